import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { plainMessage, restoreBody, type Contact } from "../api";
import { NoticeProvider, useDelete } from "../notice";
import { stubFetch } from "../test/fetch";
import { useAsync } from "../useAsync";
import { validateOpportunity } from "../pages/forms";
import { DeleteButton } from "./DeleteButton";
import { LoadState } from "./LoadState";

afterEach(() => vi.unstubAllGlobals());

describe("DeleteButton", () => {
  it("asks first, with focus on Keep it, and Escape deletes nothing", async () => {
    const del = vi.fn(async () => {});
    render(<DeleteButton what="contact" name="Ada Lovelace" consequence="Her activities stay." onDelete={del} />);
    fireEvent.click(screen.getByRole("button", { name: "Delete contact Ada Lovelace" }));
    const dialog = screen.getByRole("alertdialog");
    expect(dialog.textContent).toContain("Delete contact Ada Lovelace? Her activities stay.");
    expect(document.activeElement?.textContent).toBe("Keep it");
    fireEvent.keyDown(dialog, { key: "Escape" });
    expect(screen.queryByRole("alertdialog")).toBeNull();
    expect(del).not.toHaveBeenCalled();
    expect(document.activeElement?.getAttribute("aria-label")).toBe("Delete contact Ada Lovelace");
  });

  it("deletes on confirmation and shows a failure inside the question", async () => {
    let fail = true;
    const del = vi.fn(async () => {
      if (fail) throw new Error("This record no longer exists.");
    });
    render(<DeleteButton what="deal" name="Big deal" onDelete={del} />);
    fireEvent.click(screen.getByRole("button", { name: "Delete deal Big deal" }));
    fireEvent.click(screen.getByRole("button", { name: "Delete deal" }));
    expect((await screen.findByRole("alert")).textContent).toBe("This record no longer exists.");
    fail = false;
    fireEvent.click(screen.getByRole("button", { name: "Delete deal" }));
    await waitFor(() => expect(screen.queryByRole("alertdialog")).toBeNull());
    expect(del).toHaveBeenCalledTimes(2);
  });
});

describe("useDelete", () => {
  const ada: Contact & { account_name: string; updated_at: string } = {
    id: 7,
    first_name: "Ada",
    last_name: "Lovelace",
    email: "",
    title: "Analyst",
    account_id: 3,
    account_name: "Engines Ltd",
    owner_id: 2,
    updated_at: "2026-01-01T00:00:00Z",
  };

  function Harness({ onRestored }: { onRestored: (c: Contact) => void }) {
    const remove = useDelete();
    return (
      <button type="button" onClick={() => void remove("contacts", ada, "Contact Ada Lovelace", { undo: true, onRestored })}>
        go
      </button>
    );
  }

  it("deletes, says so, and Undo re-creates the record from its writable fields", async () => {
    const calls = stubFetch((c) => (c.method === "DELETE" ? { status: 204 } : { status: 201, body: { ...ada, id: 8 } }));
    const restored = vi.fn();
    render(
      <NoticeProvider>
        <Harness onRestored={restored} />
      </NoticeProvider>,
    );
    fireEvent.click(screen.getByRole("button", { name: "go" }));
    expect((await screen.findByText("Contact Ada Lovelace deleted.")).closest("[role=status]")).toBeTruthy();
    expect(calls[0]).toMatchObject({ method: "DELETE", url: "/api/v1/contacts/7" });
    fireEvent.click(screen.getByRole("button", { name: "Undo" }));
    await screen.findByText("Restored.");
    expect(calls[1]).toEqual({
      method: "POST",
      url: "/api/v1/contacts",
      body: { first_name: "Ada", last_name: "Lovelace", title: "Analyst", account_id: 3, owner_id: 2 },
    });
    expect(restored).toHaveBeenCalledWith(expect.objectContaining({ id: 8 }));
  });

  it("says why an undo failed and keeps the Undo button", async () => {
    stubFetch((c) => (c.method === "DELETE" ? { status: 204 } : { status: 403, body: { error: { code: "forbidden", message: "you may only assign records to yourself or your team" } } }));
    render(
      <NoticeProvider>
        <Harness onRestored={() => {}} />
      </NoticeProvider>,
    );
    fireEvent.click(screen.getByRole("button", { name: "go" }));
    fireEvent.click(await screen.findByRole("button", { name: "Undo" }));
    await screen.findByText("Could not undo: you may only assign records to yourself or your team");
    expect((screen.getByRole("button", { name: "Undo" }) as HTMLButtonElement).disabled).toBe(false);
  });
});

describe("restoreBody", () => {
  const cases = [
    {
      name: "activity keeps its links, drops read-only and list-only fields",
      kind: "activities" as const,
      rec: { id: 1, kind: "call", subject: "Hi", notes: "", account_id: 4, account_name: "A", contact_id: null, opportunity_id: 9, created_at: "x", done: false },
      want: { kind: "call", subject: "Hi", account_id: 4, opportunity_id: 9, done: false },
    },
    {
      name: "deal keeps a zero amount",
      kind: "opportunities" as const,
      rec: { id: 2, name: "D", account_id: 4, stage: "proposal", amount: 0, close_date: null, updated_at: "x" },
      want: { name: "D", account_id: 4, stage: "proposal", amount: 0 },
    },
  ];
  for (const c of cases) it(c.name, () => expect(restoreBody(c.kind, c.rec)).toEqual(c.want));
});

describe("plainMessage", () => {
  const cases = [
    { status: 400, msg: "must be at most 100 characters, got 101", want: "must be at most 100 characters, got 101" },
    { status: 401, msg: "wrong e-mail or password", want: "wrong e-mail or password" },
    { status: 404, msg: "not found", want: /no longer exists/ },
    { status: 429, msg: undefined, want: /Wait a few seconds/ },
    { status: 502, msg: "bad gateway", want: /server had a problem \(error 502\)/ },
    { status: 409, msg: undefined, want: /refused the request \(error 409\)/ },
  ];
  for (const c of cases) it(`${c.status}`, () => expect(plainMessage(c.status, c.msg)).toMatch(c.want));
});

describe("validateOpportunity", () => {
  const cases = [
    { amount: "1e9999", want: "Amount must be a number of 0 or more." },
    { amount: "2e12", want: "Amount must be at most 1,000,000,000,000." },
    { amount: "-1", want: "Amount must be a number of 0 or more." },
    { amount: "1500.50", want: undefined },
  ];
  for (const c of cases)
    it(c.amount, () => expect(validateOpportunity({ name: "x", amount: c.amount, stage: "prospecting", close_date: "" }).amount).toBe(c.want));
});

describe("LoadState", () => {
  function Harness({ load }: { load: () => Promise<string[]> }) {
    const [n] = useState(0);
    const s = useAsync(load, [n]);
    return (
      <LoadState state={s} what="contacts" isEmpty={(xs) => xs.length === 0} empty="No contacts yet.">
        {(xs) => <ul>{xs.map((x) => <li key={x}>{x}</li>)}</ul>}
      </LoadState>
    );
  }

  it("shows the failure with Retry instead of Loading, then the rows", async () => {
    let fail = true;
    const load = vi.fn(async () => {
      if (fail) throw new Error("The server cannot be reached.");
      return ["Ada"];
    });
    render(<Harness load={load} />);
    expect(screen.getByText("Loading…")).toBeTruthy();
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The contacts could not be loaded. The server cannot be reached.");
    expect(screen.queryByText("Loading…")).toBeNull();
    fail = false;
    fireEvent.click(screen.getByRole("button", { name: "Retry" }));
    await screen.findByText("Ada");
    expect(screen.queryByRole("alert")).toBeNull();
  });

  it("says when there is nothing", async () => {
    render(<Harness load={async () => []} />);
    await screen.findByText("No contacts yet.");
  });
});
