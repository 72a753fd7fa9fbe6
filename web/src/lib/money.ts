// Money and sizes arrive as decimal strings ("12.3456", "-0.5"): they are formatted from the
// string (BigInt arithmetic), never through binary floats, so what is shown is what was sent.

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/;

export interface Scaled {
  negative: boolean;
  units: bigint; // |value| * 10^places
}

/** The value rounded half away from zero to `places` decimals, or null for a non-decimal. */
export function scale(value: string, places: number): Scaled | null {
  const match = DECIMAL.exec(value.trim());
  if (match === null) return null;
  const [, sign = "", whole = "0", frac = ""] = match;
  const kept = frac.slice(0, places).padEnd(places, "0");
  let units = BigInt(whole + kept);
  const next = frac.charAt(places);
  if (next !== "" && next >= "5") units += 1n;
  return { negative: sign === "-" && units !== 0n, units };
}

function group(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** "1234.5" → "1,234.50"; "-0.004" → "0.00"; places decimals, thousands grouped. */
export function formatDecimal(value: string | null | undefined, places = 2): string {
  if (value === null || value === undefined) return "—";
  const scaled = scale(value, places);
  if (scaled === null) return value;
  const digits = scaled.units.toString().padStart(places + 1, "0");
  const whole = digits.slice(0, digits.length - places);
  const frac = digits.slice(digits.length - places);
  const body = places > 0 ? `${group(whole)}.${frac}` : group(whole);
  return scaled.negative ? `-${body}` : body;
}

/** USD with a sign: "12.5" → "$12.50", "-3" → "-$3.00". */
export function formatUsd(value: string | null | undefined, places = 2): string {
  if (value === null || value === undefined) return "—";
  const text = formatDecimal(value, places);
  if (text === value && scale(value, places) === null) return value;
  return text.startsWith("-") ? `-$${text.slice(1)}` : `$${text}`;
}

/** A price in [0, 1] as shown by the venue: "0.4500" → "0.450" (3 decimals by default). */
export function formatPrice(value: string | null | undefined): string {
  return formatDecimal(value, 3);
}

/** -1, 0 or 1: the sign of a decimal string (for colouring gains and losses). */
export function sign(value: string | null | undefined): -1 | 0 | 1 {
  if (value === null || value === undefined) return 0;
  const scaled = scale(value, 12);
  if (scaled === null || scaled.units === 0n) return 0;
  return scaled.negative ? -1 : 1;
}

/** The sum of decimal strings, exact (for cumulative depth): returned as a decimal string. */
export function addDecimals(values: readonly string[], places = 6): string {
  let total = 0n;
  for (const value of values) {
    const scaled = scale(value, places);
    if (scaled !== null) total += scaled.negative ? -scaled.units : scaled.units;
  }
  const negative = total < 0n;
  const digits = (negative ? -total : total).toString().padStart(places + 1, "0");
  const text = `${digits.slice(0, digits.length - places)}.${digits.slice(digits.length - places)}`;
  return negative ? `-${text}` : text;
}
