import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { NoticeProvider } from "../notice";
import { stubFetch, type Call } from "../test/fetch";
import { ContactPage } from "./ContactPage";
import { ContactForm } from "./Contacts";
import { DealPage } from "./DealPage";
import { ActivityForm } from "./forms";

afterEach(() => vi.unstubAllGlobals());

const field = (label: string) => screen.getByLabelText(label) as HTMLInputElement;
const path = (c: Call) => c.url.replace("/api/v1", "");

const acme = { id: 3, name: "Acme Tools" };
const ada = { id: 7, first_name: "Ada", last_name: "Lovelace", title: "Analyst", account_id: 3 };
const deal = { id: 4, account_id: 3, name: "Big deal", stage: "proposal", amount: 1200, close_date: "2030-03-01" };
const call = { id: 11, kind: "call", subject: "Intro call", created_at: "2026-01-01T10:00:00Z", contact_id: 7, account_id: 3 };

const history = [
  { from_stage: "qualification", to_stage: "proposal", changed_at: "2026-02-03T09:30:00Z", changed_by: 2, changed_by_name: "Mona Manager" },
  { from_stage: null, to_stage: "qualification", changed_at: "2026-01-05T08:00:00Z", changed_by: null, changed_by_name: null },
];

function api(c: Call) {
  const p = path(c);
  if (c.method === "GET" && p === "/accounts/3") return { body: acme };
  if (c.method === "GET" && p === "/contacts/7") return { body: ada };
  if (c.method === "GET" && p === "/opportunities/4") return { body: deal };
  if (c.method === "GET" && p === "/opportunities/4/stages") return { body: { items: history } };
  if (c.method === "GET" && p.startsWith("/opportunities?")) return { body: { items: [deal], next: "" } };
  if (c.method === "GET" && p.startsWith("/activities?")) return { body: { items: [call], next: "" } };
  if (c.method === "PATCH") return { body: { ...deal, ...(c.body as object) } };
  if (c.method === "POST") return { status: 201, body: { id: 99, ...(c.body as object) } };
  return { status: 404, body: { error: { code: "not_found", message: "not found" } } };
}

describe("ContactPage", () => {
  it("shows the account, the account's deals and the contact's activities", async () => {
    const calls = stubFetch(api);
    render(<NoticeProvider><ContactPage id={7} /></NoticeProvider>);
    await screen.findByRole("heading", { name: "Ada Lovelace" });
    await waitFor(() => expect(screen.getAllByRole("link", { name: "Acme Tools" })[0].getAttribute("href")).toBe("/accounts/3"));
    expect(within(await screen.findByRole("list", { name: "Deals" })).getByRole("link", { name: "Big deal" }).getAttribute("href")).toBe("/deals/4");
    await screen.findByText("Intro call");
    expect(calls.map(path)).toContain("/activities?contact_id=7&sort=-updated&limit=25");
    expect(calls.map(path)).toContain("/opportunities?account_id=3&sort=-updated&limit=10");
  });

  it("says a missing contact is gone, with Retry and a way back", async () => {
    stubFetch(() => ({ status: 404, body: { error: { code: "not_found", message: "not found" } } }));
    render(<NoticeProvider><ContactPage id={8} /></NoticeProvider>);
    expect((await screen.findByRole("alert")).textContent).toMatch(/The contact could not be loaded. This record no longer exists/);
    expect(screen.getByRole("button", { name: "Retry" })).toBeTruthy();
    expect(screen.getByRole("link", { name: "Back" }).getAttribute("href")).toBe("/contacts");
  });
});

describe("DealPage", () => {
  it("shows the stage history newest first, with who moved the deal", async () => {
    const calls = stubFetch(api);
    render(<NoticeProvider><DealPage id={4} /></NoticeProvider>);
    const list = await screen.findByRole("list", { name: "Stage history" });
    await waitFor(() => expect(within(list).getAllByRole("listitem")).toHaveLength(2));
    const [moved, created] = within(list).getAllByRole("listitem").map((li) => li.textContent);
    expect(moved).toMatch(/^Qualification → Proposal by Mona Manager, 3 Feb 2026/);
    expect(created).toMatch(/^Created in Qualification by a former user/);
    expect(calls.map(path)).toContain("/opportunities/4/stages");
  });

  it("says when no stage change is recorded, and retries a failed load", async () => {
    let fail = true;
    stubFetch((c) => {
      if (path(c) === "/opportunities/4/stages") return fail ? { status: 503, body: {} } : { body: { items: [] } };
      return api(c);
    });
    render(<NoticeProvider><DealPage id={4} /></NoticeProvider>);
    const alert = await screen.findByText(/The stage history could not be loaded/);
    fail = false;
    fireEvent.click(within(alert.closest("[role=alert]") as HTMLElement).getByRole("button", { name: "Retry" }));
    await screen.findByText("No stage changes recorded yet.");
  });

  it("edits name, amount and close date with one PATCH", async () => {
    const calls = stubFetch(api);
    render(<NoticeProvider><DealPage id={4} /></NoticeProvider>);
    await screen.findByRole("heading", { name: "Big deal" });
    fireEvent.click(screen.getByRole("button", { name: "Edit" }));
    expect(field("Amount (USD)").value).toBe("1200");
    fireEvent.change(field("Opportunity name"), { target: { value: "Bigger deal" } });
    fireEvent.change(field("Amount (USD)"), { target: { value: "2500" } });
    fireEvent.change(field("Expected close"), { target: { value: "2030-04-15" } });
    fireEvent.click(screen.getByRole("button", { name: "Save opportunity" }));
    await waitFor(() => expect(calls.some((c) => c.method === "PATCH")).toBe(true));
    expect(calls.find((c) => c.method === "PATCH")).toEqual({
      method: "PATCH",
      url: "/api/v1/opportunities/4",
      body: { name: "Bigger deal", amount: 2500, stage: "proposal", close_date: "2030-04-15" },
    });
    expect(calls.map(path)).toContain("/activities?opportunity_id=4&sort=-updated&limit=25");
    // Saved, the page reloads the deal from the server.
    await waitFor(() => expect(calls.filter((c) => path(c) === "/opportunities/4")).toHaveLength(2));
  });
});

describe("linking from create forms", () => {
  it("ContactForm without an account lets the user find and pick one", async () => {
    const calls = stubFetch((c) =>
      c.method === "GET" ? { body: { items: [{ id: 3, name: "Acme Tools", city: "Oslo" }], next: "" } } : { status: 201, body: { id: 12 } },
    );
    const done = vi.fn();
    render(<ContactForm onDone={done} />);
    fireEvent.change(field("First name"), { target: { value: "Ada" } });
    fireEvent.change(field("Last name"), { target: { value: "L" } });
    fireEvent.change(field("Find account"), { target: { value: "acme" } });
    await screen.findByRole("option", { name: "Acme Tools (Oslo)" });
    fireEvent.change(field("Account"), { target: { value: "3" } });
    fireEvent.click(screen.getByRole("button", { name: "Add contact" }));
    await waitFor(() => expect(done).toHaveBeenCalled());
    expect(calls.find((c) => c.method === "GET")?.url).toBe("/api/v1/accounts?q=acme&limit=10&sort=name");
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ first_name: "Ada", last_name: "L", email: "", phone: "", title: "", account_id: 3 });
  });

  it("ActivityForm opened from a deal links the deal, its account and no picker", async () => {
    const calls = stubFetch(() => ({ status: 201, body: { id: 1 } }));
    render(<ActivityForm accountId={3} opportunityId={4} contactId={7} onDone={() => {}} />);
    expect(screen.queryByLabelText("Find account")).toBeNull();
    fireEvent.change(field("Subject"), { target: { value: "Quote" } });
    fireEvent.click(screen.getByRole("button", { name: "Log activity" }));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0].body).toEqual({ kind: "call", subject: "Quote", notes: "", account_id: 3, contact_id: 7, opportunity_id: 4 });
  });
});
