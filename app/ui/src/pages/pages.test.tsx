import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ContactForm } from "./Contacts";
import { Card } from "./Pipeline";
import { SignIn } from "./SignIn";
import { ActivityForm, toDueAt } from "./forms";
import { stubFetch } from "../test/fetch";

afterEach(() => vi.unstubAllGlobals());

const field = (label: string) => screen.getByLabelText(label) as HTMLInputElement;

describe("ContactForm", () => {
  it("shows client-side messages and sends nothing while invalid", async () => {
    const calls = stubFetch(() => ({ body: {} }));
    render(<ContactForm accountId={5} onDone={() => {}} />);
    fireEvent.change(field("E-mail"), { target: { value: "not-an-address" } });
    fireEvent.click(screen.getByRole("button", { name: "Add contact" }));
    expect(await screen.findByText("First name is required.")).toBeTruthy();
    expect(screen.getByText("Last name is required.")).toBeTruthy();
    expect(screen.getByText(/Enter an e-mail address/)).toBeTruthy();
    expect(field("E-mail").getAttribute("aria-invalid")).toBe("true");
    expect(calls).toHaveLength(0);
  });

  it("puts the API's field error next to the field", async () => {
    const calls = stubFetch(() => ({ status: 400, body: { error: { code: "invalid", message: "must be at most 100 characters, got 101", field: "title" } } }));
    render(<ContactForm accountId={5} onDone={() => {}} />);
    fireEvent.change(field("First name"), { target: { value: "Ada" } });
    fireEvent.change(field("Last name"), { target: { value: "Lovelace" } });
    fireEvent.change(field("Job title"), { target: { value: "x".repeat(101) } });
    fireEvent.click(screen.getByRole("button", { name: "Add contact" }));
    const msg = await screen.findByText("must be at most 100 characters, got 101");
    expect(field("Job title").getAttribute("aria-describedby")).toBe(msg.id);
    expect(calls[0]).toMatchObject({ method: "POST", url: "/api/v1/contacts", body: { first_name: "Ada", last_name: "Lovelace", account_id: 5 } });
  });

  it("shows an error without a field as a banner and reports the saved contact", async () => {
    let fail = true;
    stubFetch(() => (fail ? { status: 403, body: { error: { code: "forbidden", message: "you may not add contacts to this account" } } } : { body: { id: 9, first_name: "Ada", last_name: "L" } }));
    const done = vi.fn();
    render(<ContactForm accountId={5} onDone={done} />);
    fireEvent.change(field("First name"), { target: { value: "Ada" } });
    fireEvent.change(field("Last name"), { target: { value: "L" } });
    fireEvent.click(screen.getByRole("button", { name: "Add contact" }));
    expect((await screen.findByRole("alert")).textContent).toBe("you may not add contacts to this account");
    fail = false;
    fireEvent.click(screen.getByRole("button", { name: "Add contact" }));
    await waitFor(() => expect(done).toHaveBeenCalledWith({ id: 9, first_name: "Ada", last_name: "L" }));
  });
});

describe("ActivityForm", () => {
  it("asks for a due date only for tasks and sends it as RFC 3339", async () => {
    const calls = stubFetch(() => ({ body: { id: 1 } }));
    render(<ActivityForm accountId={3} defaultKind="task" onDone={() => {}} />);
    fireEvent.change(field("Subject"), { target: { value: "Send quote" } });
    fireEvent.click(screen.getByRole("button", { name: "Add task" }));
    expect(await screen.findByText("Due date is required.")).toBeTruthy();
    fireEvent.change(field("Due date"), { target: { value: "2030-01-31" } });
    fireEvent.click(screen.getByRole("button", { name: "Add task" }));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0].body).toEqual({ kind: "task", subject: "Send quote", notes: "", account_id: 3, due_at: toDueAt("2030-01-31"), done: false });
    fireEvent.change(field("Kind"), { target: { value: "call" } });
    expect(screen.queryByLabelText("Due date")).toBeNull();
  });
});

describe("pipeline Card", () => {
  const o = { id: 4, account_id: 1, name: "Big deal", stage: "proposal" as const, amount: 1000 };

  it("moves one stage with the arrow keys", () => {
    const move = vi.fn();
    render(<ul><Card o={o} onMove={move} /></ul>);
    const card = screen.getByRole("listitem");
    fireEvent.keyDown(card, { key: "ArrowRight" });
    fireEvent.keyDown(card, { key: "ArrowLeft" });
    fireEvent.keyDown(card, { key: "Enter" });
    expect(move.mock.calls).toEqual([
      [4, "negotiation"],
      [4, "qualification"],
    ]);
  });

  it("offers a labelled stage select and is draggable", () => {
    const move = vi.fn();
    render(<ul><Card o={o} onMove={move} /></ul>);
    fireEvent.change(screen.getByLabelText("Stage of Big deal"), { target: { value: "closed_won" } });
    expect(move).toHaveBeenCalledWith(4, "closed_won");
    expect(screen.getByRole("listitem").getAttribute("draggable")).toBe("true");
  });

  it("names the deal's account, or says Account when the list did not", () => {
    const { unmount } = render(<ul><Card o={{ ...o, account_name: "Acme Tools" }} onMove={vi.fn()} /></ul>);
    expect(screen.getByRole("link", { name: "Acme Tools" }).getAttribute("href")).toBe("/accounts/1");
    expect(screen.getByRole("link", { name: "Big deal" }).getAttribute("href")).toBe("/deals/4");
    unmount();
    render(<ul><Card o={o} onMove={vi.fn()} /></ul>);
    expect(screen.getByRole("link", { name: "Account" }).getAttribute("href")).toBe("/accounts/1");
  });
});

describe("SignIn", () => {
  it("signs in and shows a wrong password as a banner", async () => {
    let ok = false;
    const calls = stubFetch(() => (ok ? { body: { user: { id: 1, email: "a@example.com", role: "admin" } } } : { status: 401, body: { error: { code: "unauthorized", message: "wrong e-mail or password" } } }));
    const signedIn = vi.fn();
    render(<SignIn onSignedIn={signedIn} />);
    fireEvent.change(field("E-mail"), { target: { value: " a@example.com " } });
    fireEvent.change(field("Password"), { target: { value: "nope" } });
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect((await screen.findByRole("alert")).textContent).toBe("wrong e-mail or password");
    ok = true;
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(signedIn).toHaveBeenCalledWith({ id: 1, email: "a@example.com", role: "admin" }));
    expect(calls[1].body).toEqual({ email: "a@example.com", password: "nope" });
  });
});
