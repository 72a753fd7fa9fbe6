/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The bundle is served by the FastAPI app (src/polyarb/api/web.py) and shipped in the Python
// package; `npm run dev` proxies the API to a local `polyarb run` (API_INSECURE_COOKIES=true).
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../src/polyarb/api/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 500, // pages are split (App.tsx); recharts alone is ~460 kB
  },
  server: {
    proxy: {
      "/api": { target: "http://127.0.0.1:8000", ws: true },
      "/health": "http://127.0.0.1:8000",
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
  },
});
