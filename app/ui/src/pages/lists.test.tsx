import { act, fireEvent, render, renderHook, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SortHeader } from "../components/SortHeader";
import { useSearchParam } from "../router";
import { stubFetch } from "../test/fetch";
import { Contacts } from "./Contacts";
import { Search } from "./Search";

beforeEach(() => window.history.replaceState(null, "", "/accounts"));
afterEach(() => vi.unstubAllGlobals());

describe("SortHeader", () => {
  const cases = [
    { name: "another column sorts ascending", sort: "updated", want: "name", ariaSort: "none" },
    { name: "ascending turns descending", sort: "name", want: "-name", ariaSort: "ascending" },
    { name: "descending turns ascending", sort: "-name", want: "name", ariaSort: "descending" },
  ];
  for (const c of cases)
    it(c.name, () => {
      const onSort = vi.fn();
      render(<table><thead><tr><SortHeader label="Name" by="name" sort={c.sort} onSort={onSort} /></tr></thead></table>);
      expect(screen.getByRole("columnheader").getAttribute("aria-sort")).toBe(c.ariaSort);
      fireEvent.click(screen.getByRole("button", { name: /Name/ }));
      expect(onSort).toHaveBeenCalledWith(c.want);
    });
});

describe("useSearchParam", () => {
  it("keeps the value in the URL, replacing the history entry, and drops the default", () => {
    const before = window.history.length;
    const { result } = renderHook(() => useSearchParam("sort", "name"));
    expect(result.current[0]).toBe("name");
    act(() => result.current[1]("-updated"));
    expect(window.location.search).toBe("?sort=-updated");
    expect(result.current[0]).toBe("-updated");
    act(() => result.current[1]("name"));
    expect(window.location.search).toBe("");
    expect(window.history.length).toBe(before);
  });
});

describe("Contacts", () => {
  it("exports what the search matches, from the API", async () => {
    window.history.replaceState(null, "", "/contacts?q=ann%20lee");
    stubFetch(() => ({ body: { items: [], next: "", total: 0 } }));
    render(<Contacts />);
    await screen.findByText("No contacts match your search.");
    expect(screen.getByRole("link", { name: "Export CSV" }).getAttribute("href")).toBe("/api/v1/export/contacts?q=ann+lee");
    expect(screen.getByRole("navigation", { name: "Contacts pages" }).textContent).toContain("Page 1 of 1 · 0 contacts");
  });
});

describe("Search", () => {
  it("asks every kind with the word from the URL and links the results", async () => {
    window.history.replaceState(null, "", "/search?q=fjord");
    const calls = stubFetch((c) => {
      if (c.url.startsWith("/api/v1/accounts")) return { body: { items: [{ id: 1, name: "Fjord Fisk" }], next: "x" } };
      if (c.url.startsWith("/api/v1/opportunities")) return { body: { items: [{ id: 4, name: "Fjord order", stage: "proposal", amount: 10 }], next: "" } };
      if (c.url.startsWith("/api/v1/leads")) return { status: 503, body: { error: { code: "unavailable", message: "busy" } } };
      return { body: { items: [], next: "" } };
    });
    render(<Search />);
    const accounts = await screen.findByRole("region", { name: "Accounts" });
    await waitFor(() => expect(within(accounts).getByRole("link", { name: "Fjord Fisk" }).getAttribute("href")).toBe("/accounts/1"));
    expect(within(accounts).getByRole("link", { name: "More accounts…" }).getAttribute("href")).toBe("/accounts?q=fjord");
    await within(screen.getByRole("region", { name: "Deals" })).findByRole("link", { name: "Fjord order" });
    await within(screen.getByRole("region", { name: "Contacts" })).findByText("No contacts match.");
    expect((await within(screen.getByRole("region", { name: "Leads" })).findByRole("alert")).textContent).toMatch(/The leads could not be loaded. The server had a problem/);
    expect(calls.map((c) => c.url).sort()).toEqual([
      "/api/v1/accounts?q=fjord&limit=5",
      "/api/v1/contacts?q=fjord&limit=5",
      "/api/v1/leads?q=fjord&limit=5",
      "/api/v1/opportunities?q=fjord&limit=5",
    ]);
  });
});
