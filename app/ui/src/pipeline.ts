import { STAGES, type Opportunity, type Stage } from "./api";

// Board state: per stage, the cards loaded so far and the cursor for more.
export interface Column {
  items: Opportunity[];
  next: string;
}
export type Board = Record<Stage, Column>;

export function emptyBoard(): Board {
  return Object.fromEntries(STAGES.map((s) => [s, { items: [], next: "" }])) as unknown as Board;
}

// moveCard takes the card out of its column and puts it at the top of
// stage's column. It returns the same board when the card is not found or
// is already there, so callers can skip a request that would change nothing.
export function moveCard(board: Board, id: number, stage: Stage): Board {
  let card: Opportunity | undefined;
  let from: Stage | undefined;
  for (const s of STAGES) {
    const c = board[s].items.find((o) => o.id === id);
    if (c) {
      card = c;
      from = s;
      break;
    }
  }
  if (!card || !from || from === stage) return board;
  return {
    ...board,
    [from]: { ...board[from], items: board[from].items.filter((o) => o.id !== id) },
    [stage]: { ...board[stage], items: [{ ...card, stage }, ...board[stage].items] },
  };
}

export function stageOf(board: Board, id: number): Stage | undefined {
  return STAGES.find((s) => board[s].items.some((o) => o.id === id));
}

// neighbour gives the stage one step left (-1) or right (+1), or undefined
// at the ends: the keyboard alternative to dragging.
export function neighbour(stage: Stage, step: -1 | 1): Stage | undefined {
  return STAGES[STAGES.indexOf(stage) + step];
}

export function columnTotal(c: Column): number {
  return c.items.reduce((a, o) => a + (Number(o.amount) || 0), 0);
}

// reopenQuestion is what to ask before a deal leaves Closed won or Closed
// lost (a stray → on a won deal would otherwise lose it), or null when
// nothing needs asking.
export function reopenQuestion(name: string, from: Stage, to: Stage): string | null {
  if (from === to || (from !== "closed_won" && from !== "closed_lost")) return null;
  const what = from === "closed_won" ? "won" : "lost";
  return `${name} is closed as ${what}. Move it to ${to.replace(/_/g, " ")}?`;
}

/** Per stage, the number and value of all deals (the pipeline report). */
export type Totals = Record<Stage, { count: number; amount: number }>;

// shiftTotals moves one deal of amount from one stage's totals to another's.
export function shiftTotals(t: Totals, from: Stage, to: Stage, amount: number): Totals {
  if (from === to) return t;
  return {
    ...t,
    [from]: { count: t[from].count - 1, amount: t[from].amount - amount },
    [to]: { count: t[to].count + 1, amount: t[to].amount + amount },
  };
}
