import { describe, expect, it } from "vitest";
import { STAGES, type Opportunity } from "./api";
import { columnTotal, emptyBoard, moveCard, neighbour, reopenQuestion, shiftTotals, stageOf, type Totals } from "./pipeline";

function opp(id: number, stage: Opportunity["stage"], amount = 100): Opportunity {
  return { id, account_id: 1, name: "Deal " + id, stage, amount };
}

describe("moveCard", () => {
  const board = emptyBoard();
  board.prospecting.items = [opp(1, "prospecting"), opp(2, "prospecting", 50)];
  board.proposal.items = [opp(3, "proposal")];

  it("moves a card to the top of the target column and sets its stage", () => {
    const b = moveCard(board, 2, "proposal");
    expect(b.prospecting.items.map((o) => o.id)).toEqual([1]);
    expect(b.proposal.items.map((o) => [o.id, o.stage])).toEqual([
      [2, "proposal"],
      [3, "proposal"],
    ]);
    expect(board.prospecting.items).toHaveLength(2); // the input is untouched
  });

  it("returns the same board for the same stage or an unknown card", () => {
    expect(moveCard(board, 1, "prospecting")).toBe(board);
    expect(moveCard(board, 99, "proposal")).toBe(board);
  });

  it("finds a card's stage and sums a column", () => {
    expect(stageOf(board, 3)).toBe("proposal");
    expect(stageOf(board, 99)).toBeUndefined();
    expect(columnTotal(board.prospecting)).toBe(150);
  });
});

describe("neighbour", () => {
  const cases = [
    { from: "prospecting", step: 1, want: "qualification" },
    { from: "prospecting", step: -1, want: undefined },
    { from: "negotiation", step: 1, want: "closed_won" },
    { from: "closed_lost", step: 1, want: undefined },
  ] as const;
  for (const c of cases) it(`${c.from} ${c.step}`, () => expect(neighbour(c.from, c.step)).toBe(c.want));
});

describe("reopenQuestion", () => {
  const cases = [
    { from: "closed_won", to: "closed_lost", want: "Big deal is closed as won. Move it to closed lost?" },
    { from: "closed_lost", to: "negotiation", want: "Big deal is closed as lost. Move it to negotiation?" },
    { from: "proposal", to: "closed_won", want: null },
    { from: "closed_won", to: "closed_won", want: null },
  ] as const;
  for (const c of cases) it(`${c.from} -> ${c.to}`, () => expect(reopenQuestion("Big deal", c.from, c.to)).toBe(c.want));
});

describe("shiftTotals", () => {
  it("moves one deal's count and amount between stages", () => {
    const t = Object.fromEntries(STAGES.map((s) => [s, { count: 2, amount: 500 }])) as Totals;
    const got = shiftTotals(t, "proposal", "closed_won", 200);
    expect(got.proposal).toEqual({ count: 1, amount: 300 });
    expect(got.closed_won).toEqual({ count: 3, amount: 700 });
    expect(got.prospecting).toBe(t.prospecting);
    expect(shiftTotals(t, "proposal", "proposal", 200)).toBe(t);
  });
});
