import { describe, expect, it } from "vitest";
import { depthPoints } from "./depth";

describe("depthPoints", () => {
  it("accumulates each side away from the touch, prices ascending", () => {
    const points = depthPoints(
      [
        { price: "0.45", size: "120.5" },
        { price: "0.44", size: "10" },
      ],
      [
        { price: "0.47", size: "80" },
        { price: "0.50", size: "0.1" },
      ],
    );
    expect(points).toEqual([
      { price: 0.44, bids: 130.5 },
      { price: 0.45, bids: 120.5 },
      { price: 0.47, asks: 80 },
      { price: 0.5, asks: 80.1 },
    ]);
  });

  it("is empty for an empty book", () => {
    expect(depthPoints([], [])).toEqual([]);
  });
});
