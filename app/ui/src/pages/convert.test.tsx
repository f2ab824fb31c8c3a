import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { stubFetch } from "../test/fetch";
import { ConvertLead } from "./ConvertLead";

afterEach(() => vi.unstubAllGlobals());

const field = (label: string) => screen.getByLabelText(label) as HTMLInputElement;
const lead = { id: 5, first_name: "Ola", last_name: "Nordmann", company: "Fjord Fisk", status: "qualified" };
const converted = { lead: { ...lead, status: "converted" }, account: { id: 2, name: "Fjord Fisk" }, contact: { id: 9, first_name: "Ola", last_name: "Nordmann" }, opportunity: null };

describe("ConvertLead", () => {
  it("converts onto a new account named for the company, with a deal", async () => {
    const calls = stubFetch(() => ({ status: 201, body: converted }));
    const done = vi.fn();
    render(<ConvertLead lead={lead} onDone={done} />);
    expect(field("New account name").value).toBe("Fjord Fisk");
    fireEvent.change(field("Deal amount (USD)"), { target: { value: "1e9999" } });
    fireEvent.click(screen.getByRole("button", { name: "Convert" }));
    expect(await screen.findByText("Amount must be a number of 0 or more.")).toBeTruthy();
    fireEvent.change(field("Deal amount (USD)"), { target: { value: "1250" } });
    fireEvent.click(screen.getByRole("button", { name: "Convert" }));
    await waitFor(() => expect(done).toHaveBeenCalledWith(converted));
    expect(calls).toEqual([
      { method: "POST", url: "/api/v1/leads/5/convert", body: { account_name: "Fjord Fisk", deal_name: "Fjord Fisk — first order", deal_amount: 1250 } },
    ]);
  });

  it("converts onto a picked account without a deal, and shows a conflict in words", async () => {
    const calls = stubFetch((c) =>
      c.method === "GET"
        ? { body: { items: [{ id: 3, name: "Existing AS" }], next: "" } }
        : { status: 409, body: { error: { code: "conflict", message: "lead 5 is already converted; open its contact instead" } } },
    );
    render(<ConvertLead lead={lead} onDone={() => {}} />);
    fireEvent.change(field("Find account"), { target: { value: "exist" } });
    await screen.findByRole("option", { name: "Existing AS" });
    fireEvent.change(field("Account"), { target: { value: "3" } });
    expect(screen.queryByLabelText("New account name")).toBeNull();
    fireEvent.click(screen.getByLabelText("Also create a deal"));
    fireEvent.click(screen.getByRole("button", { name: "Convert" }));
    expect((await screen.findByRole("alert")).textContent).toBe("lead 5 is already converted; open its contact instead");
    expect(calls.find((c) => c.method === "POST")?.body).toEqual({ account_id: 3 });
  });
});
