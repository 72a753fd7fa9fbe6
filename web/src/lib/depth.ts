// One book's levels as a depth chart: cumulative size away from the touch on each side.

import type { DepthPoint } from "../components/charts";
import { addDecimals } from "./money";

export interface Level {
  price: string;
  size: string;
}

/** Bids best (highest) first and asks best (lowest) first, as the API sends them. */
export function depthPoints(bids: readonly Level[], asks: readonly Level[]): DepthPoint[] {
  const points: DepthPoint[] = [];
  let total = "0";
  for (const level of bids) {
    total = addDecimals([total, level.size]);
    points.push({ price: Number(level.price), bids: Number(total) });
  }
  points.reverse(); // the chart's x axis goes up in price
  total = "0";
  for (const level of asks) {
    total = addDecimals([total, level.size]);
    points.push({ price: Number(level.price), asks: Number(total) });
  }
  return points;
}
