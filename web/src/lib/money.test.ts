import { describe, expect, it } from "vitest";
import { addDecimals, formatDecimal, formatPrice, formatUsd, sign } from "./money";

describe("formatUsd", () => {
  it("rounds half away from zero from the string, without floats", () => {
    // 1.005 is 1.00499999... as a binary float: toFixed(2) would say 1.00.
    expect(formatUsd("1.005")).toBe("$1.01");
    expect(formatUsd("-1.005")).toBe("-$1.01");
    expect(formatUsd("2.675")).toBe("$2.68");
    expect(formatUsd("0.004")).toBe("$0.00");
  });

  it("groups thousands and keeps large values exact", () => {
    expect(formatUsd("1234567.891")).toBe("$1,234,567.89");
    expect(formatUsd("90071992547409931.99")).toBe("$90,071,992,547,409,931.99");
  });

  it("never shows a negative zero", () => {
    expect(formatUsd("-0.001")).toBe("$0.00");
    expect(formatDecimal("-0")).toBe("0.00");
  });

  it("says a missing value is missing, and passes through what is not a number", () => {
    expect(formatUsd(null)).toBe("—");
    expect(formatUsd(undefined)).toBe("—");
    expect(formatUsd("NaN")).toBe("NaN");
  });
});

describe("formatDecimal and formatPrice", () => {
  it("pads and rounds to the places asked", () => {
    expect(formatDecimal("5", 0)).toBe("5");
    expect(formatDecimal("0.5", 0)).toBe("1");
    expect(formatDecimal("12.3", 4)).toBe("12.3000");
    expect(formatPrice("0.4449")).toBe("0.445");
    expect(formatPrice("+0.47")).toBe("0.470");
  });
});

describe("sign and addDecimals", () => {
  it("reads the sign of tiny values", () => {
    expect(sign("-0.000001")).toBe(-1);
    expect(sign("0.000")).toBe(0);
    expect(sign("3")).toBe(1);
  });

  it("adds exactly", () => {
    expect(addDecimals(["0.1", "0.2"])).toBe("0.300000");
    expect(addDecimals(["120.5", "80", "-0.25"], 2)).toBe("200.25");
  });
});
