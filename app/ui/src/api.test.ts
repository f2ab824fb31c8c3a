import { afterEach, describe, expect, it, vi } from "vitest";
import { api, ApiError, formatMoney, queryString, stageLabel } from "./api";
import { stubFetch } from "./test/fetch";

afterEach(() => vi.unstubAllGlobals());

describe("queryString", () => {
  const cases: { name: string; in: Record<string, string | number | boolean | undefined>; want: string }[] = [
    { name: "empty", in: {}, want: "" },
    { name: "drops empty and undefined", in: { q: "", owner_id: undefined, limit: 25 }, want: "?limit=25" },
    { name: "keeps false", in: { done: false }, want: "?done=false" },
    { name: "escapes", in: { q: "a&b c" }, want: "?q=a%26b+c" },
  ];
  for (const c of cases) it(c.name, () => expect(queryString(c.in)).toBe(c.want));
});

describe("request", () => {
  it("turns an API error body into an ApiError with its field", async () => {
    stubFetch(() => ({ status: 400, body: { error: { code: "invalid", message: "must be an e-mail address", field: "email" } } }));
    const err = await api.contacts.create({ first_name: "A", last_name: "B", email: "x" }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: "invalid", field: "email", message: "must be an e-mail address" });
  });

  it("reports a status without a JSON body", async () => {
    vi.stubGlobal("fetch", async () => new Response("bad gateway", { status: 502 }));
    const err = await api.accounts.get(1).catch((e) => e);
    expect(err).toMatchObject({ status: 502, code: "internal", message: "The server had a problem (error 502). Try again in a moment." });
  });

  it("sends method, path, query and JSON body", async () => {
    const calls = stubFetch(() => ({ body: { items: [], next: "" } }));
    await api.opportunities.list({ stage: "proposal", sort: "-amount", after: "abc" });
    await api.opportunities.update(7, { stage: "negotiation" });
    expect(calls).toEqual([
      { method: "GET", url: "/api/v1/opportunities?stage=proposal&sort=-amount&after=abc", body: undefined },
      { method: "PATCH", url: "/api/v1/opportunities/7", body: { stage: "negotiation" } },
    ]);
  });

  it("accepts 204 from sign-out", async () => {
    stubFetch(() => ({ status: 204 }));
    await expect(api.session.signOut()).resolves.toBeUndefined();
  });
});

describe("formatting", () => {
  it("labels stages", () => expect(stageLabel("closed_won")).toBe("Closed won"));
  it("formats money", () => expect(formatMoney(1234567.4)).toBe("$1,234,567"));
});
