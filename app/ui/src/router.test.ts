import { describe, expect, it } from "vitest";
import { match } from "./router";
import { resolve } from "./App";

describe("match", () => {
  const cases = [
    { pattern: "/accounts/:id", path: "/accounts/42", want: { id: "42" } },
    { pattern: "/accounts/:id", path: "/accounts/42/", want: { id: "42" } },
    { pattern: "/accounts/:id", path: "/accounts", want: null },
    { pattern: "/", path: "/", want: {} },
    { pattern: "/leads", path: "/contacts", want: null },
  ];
  for (const c of cases) it(`${c.pattern} ${c.path}`, () => expect(match(c.pattern, c.path)).toEqual(c.want));
});

describe("resolve", () => {
  it("prefers /contacts/new over /contacts/:id", () => expect(resolve("/contacts/new")?.route.title).toBe("New contact"));
  it("finds account pages", () => expect(resolve("/accounts/7")?.params).toEqual({ id: "7" }));
  it("knows no unknown page", () => expect(resolve("/nope")).toBeNull());
});

describe("resolve ids", () => {
  const cases = [
    { path: "/contacts/abc", want: null },
    { path: "/contacts/0", want: null },
    { path: "/contacts/12", want: "Contact" },
    { path: "/leads/1e3", want: null },
    { path: "/accounts/-4", want: null },
  ];
  for (const c of cases) it(c.path, () => expect(resolve(c.path)?.route.title ?? null).toBe(c.want));
});
