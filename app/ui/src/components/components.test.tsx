import { act, fireEvent, render, renderHook, screen } from "@testing-library/react";
import { beforeEach, describe, expect, it } from "vitest";
import { BarChart, scale } from "./BarChart";
import { pageLine, Pager, useCursor, useListCursor } from "./Pager";
import { useSearchParam } from "../router";

describe("scale", () => {
  const cases = [
    { name: "empty", max: 0, integer: false, want: { top: 1, ticks: [1] } },
    { name: "money", max: 1_600_000, integer: false, want: { top: 2_000_000, ticks: [500_000, 1_000_000, 1_500_000, 2_000_000] } },
    { name: "exact", max: 100, integer: false, want: { top: 100, ticks: [20, 40, 60, 80, 100] } },
    { name: "small counts stay whole", max: 2, integer: true, want: { top: 2, ticks: [1, 2] } },
    { name: "no counts", max: 0, integer: true, want: { top: 1, ticks: [1] } },
    { name: "counts", max: 37, integer: true, want: { top: 40, ticks: [10, 20, 30, 40] } },
  ];
  for (const c of cases) it(c.name, () => expect(scale(c.max, c.integer)).toEqual(c.want));
});

describe("BarChart", () => {
  it("draws one bar per value, heights in proportion, and a table for screen readers", () => {
    const { container } = render(
      <BarChart
        title="Pipeline value by stage"
        bars={[
          { label: "Prospecting", value: 50 },
          { label: "Proposal", value: 100 },
          { label: "Won", value: 0 },
        ]}
      />,
    );
    expect(screen.getByRole("img", { name: "Pipeline value by stage" })).toBeTruthy();
    const heights = [...container.querySelectorAll("rect")].map((r) => Number(r.getAttribute("height")));
    expect(heights).toHaveLength(3);
    expect(heights[1]).toBeCloseTo(heights[0] * 2);
    expect(heights[2]).toBe(0);
    const rows = [...container.querySelectorAll("table tr")].map((tr) => tr.textContent);
    expect(rows).toEqual(["Prospecting50", "Proposal100", "Won0"]);
  });
});

describe("useCursor and Pager", () => {
  it("walks forward and back and restarts when the key changes", () => {
    const { result, rerender } = renderHook(({ k }) => useCursor(k), { initialProps: { k: "a" } });
    expect(result.current).toMatchObject({ after: "", page: 1, hasPrev: false });
    act(() => result.current.forward("c1"));
    act(() => result.current.forward("c2"));
    expect(result.current).toMatchObject({ after: "c2", page: 3, hasPrev: true });
    act(() => result.current.back());
    expect(result.current).toMatchObject({ after: "c1", page: 2 });
    rerender({ k: "b" });
    expect(result.current).toMatchObject({ after: "", page: 1, hasPrev: false });
  });

  it("disables Next on the last page and Previous on the first", () => {
    function Harness({ next }: { next: string }) {
      const c = useCursor("k");
      return (
        <>
          <Pager cursor={c} next={next} label="pages" />
          <output>{c.after}</output>
        </>
      );
    }
    const { rerender } = render(<Harness next="n1" />);
    const prev = screen.getByRole("button", { name: /Previous/ }) as HTMLButtonElement;
    const next = screen.getByRole("button", { name: /Next/ }) as HTMLButtonElement;
    expect(prev.disabled).toBe(true);
    fireEvent.click(next);
    expect(screen.getByText("Page 2")).toBeTruthy();
    expect(screen.getByRole("status").textContent).toBe("n1");
    rerender(<Harness next="" />);
    expect(next.disabled).toBe(true);
    expect(prev.disabled).toBe(false);
  });
});

describe("useListCursor", () => {
  beforeEach(() => window.history.replaceState(null, "", "/contacts?q=ann"));

  it("keeps the page in the URL, steps back through the saved cursors, and restarts on a new search", () => {
    const before = window.history.length;
    const { result } = renderHook(() => {
      const c = useListCursor();
      const [, setQ] = useSearchParam("q");
      return { c, setQ };
    });
    expect(result.current.c).toMatchObject({ after: "", page: 1, hasPrev: false });
    act(() => result.current.c.forward("c1"));
    act(() => result.current.c.forward("c2"));
    expect(window.location.search).toBe("?q=ann&page=3&after=c2");
    expect(result.current.c).toMatchObject({ after: "c2", page: 3, hasPrev: true, prevKnown: true });
    act(() => result.current.c.back());
    expect(window.location.search).toBe("?q=ann&page=2&after=c1");
    expect(result.current.c).toMatchObject({ after: "c1", page: 2 });
    // Paging replaces the history entry: Back leaves the list.
    expect(window.history.length).toBe(before);
    act(() => result.current.setQ("bob"));
    expect(window.location.search).toBe("?q=bob");
    expect(result.current.c).toMatchObject({ after: "", page: 1, hasPrev: false });
  });

  it("from a pasted link, without the earlier cursors, offers the first page", () => {
    window.history.replaceState(null, "", "/contacts?page=4&after=c3");
    const { result } = renderHook(() => useListCursor());
    expect(result.current).toMatchObject({ after: "c3", page: 4, hasPrev: true, prevKnown: false });
    render(<Pager cursor={result.current} next="" label="pages" totals={{ total: 90 }} noun="contacts" />);
    expect(screen.getByRole("button", { name: "← First page" })).toBeTruthy();
    act(() => result.current.back());
    expect(window.location.search).toBe("");
  });
});

describe("pageLine", () => {
  const cases = [
    { name: "no count asked", page: 1, t: undefined, want: "Page 1" },
    { name: "pages from the total", page: 2, t: { total: 273 }, want: "Page 2 of 11 · 273 contacts" },
    { name: "one record", page: 1, t: { total: 1 }, want: "Page 1 of 1 · 1 contact" },
    { name: "empty list is one page", page: 1, t: { total: 0 }, want: "Page 1 of 1 · 0 contacts" },
    { name: "capped count", page: 3, t: { total: 10000, total_capped: true }, want: "Page 3 · more than 10,000 contacts" },
  ];
  for (const c of cases) it(c.name, () => expect(pageLine(c.page, c.t, 25, "contacts")).toBe(c.want));
});
