// Client for the CRM REST API (/api/v1). The session lives in an HTTP-only
// cookie, so every request simply sends credentials; nothing is stored here.

export type Role = "admin" | "manager" | "rep";

export interface User {
  id: number;
  email: string;
  name?: string;
  role: Role;
  manager_id?: number | null;
  active?: boolean;
}

export interface Account {
  id: number;
  name: string;
  industry?: string;
  website?: string;
  phone?: string;
  city?: string;
  country?: string;
  owner_id?: number;
  updated_at?: string;
}

export interface Contact {
  id: number;
  account_id?: number | null;
  /** In lists only: the name of the account the record belongs to. */
  account_name?: string | null;
  first_name: string;
  last_name: string;
  email?: string;
  phone?: string;
  title?: string;
  owner_id?: number;
}

export interface Lead {
  id: number;
  first_name: string;
  last_name: string;
  company?: string;
  email?: string;
  phone?: string;
  status?: string;
  source?: string;
  owner_id?: number;
}

/** POST /leads/{id}/convert: an existing account, or a new one named
 * account_name (the lead's company by default); a deal when deal_name is set. */
export interface Conversion {
  account_id?: number;
  account_name?: string;
  deal_name?: string;
  deal_amount?: number;
}

export interface Converted {
  lead: Lead;
  account: Account;
  contact: Contact;
  opportunity: Opportunity | null;
}

export const STAGES = [
  "prospecting",
  "qualification",
  "proposal",
  "negotiation",
  "closed_won",
  "closed_lost",
] as const;
export type Stage = (typeof STAGES)[number];

export interface Opportunity {
  id: number;
  account_id: number;
  /** In lists only: the name of the account the record belongs to. */
  account_name?: string | null;
  name: string;
  stage: Stage;
  amount: number;
  close_date?: string | null;
  probability?: number | null;
  owner_id?: number;
  updated_at?: string;
}

export const ACTIVITY_KINDS = ["call", "meeting", "task", "note"] as const;
export type ActivityKind = (typeof ACTIVITY_KINDS)[number];

export interface Activity {
  id: number;
  kind: ActivityKind;
  subject: string;
  notes?: string;
  account_id?: number | null;
  /** In lists only: the name of the account the record belongs to. */
  account_name?: string | null;
  contact_id?: number | null;
  opportunity_id?: number | null;
  due_at?: string | null;
  done?: boolean;
  owner_id?: number;
  created_at?: string;
}

/** One stage a deal entered (GET /opportunities/{id}/stages); from_stage
 * is null for the stage it was created in. */
export interface StageChange {
  from_stage: Stage | null;
  to_stage: Stage;
  changed_at: string;
  changed_by: number | null;
  changed_by_name: string | null;
}

export interface AccountDetail extends Account {
  contacts?: Contact[];
  opportunities?: Opportunity[];
  activities?: Activity[];
}

export interface Page<T> {
  items: T[];
  next: string;
  /** With ?total=1: how many records the list holds, counted up to a cap
   * (total_capped then says there are more). */
  total?: number;
  total_capped?: boolean;
}

export interface PipelineReport {
  stages: { stage: Stage; count: number; amount: number }[];
}

export interface ActivityReport {
  days: { day: string; count: number }[];
}

// ApiError carries the API's error object; field names the input at fault
// so forms can put the message next to it.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export function queryString(q: Query): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v === undefined || v === null || v === "") continue;
    p.set(k, String(v));
  }
  const s = p.toString();
  return s ? "?" + s : "";
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
  }
  let res: Response;
  try {
    res = await fetch("/api/v1" + path, init);
  } catch (e) {
    throw new ApiError(0, "network", "The server cannot be reached. Check your connection and try again.");
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let data: unknown = undefined;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!res.ok) {
    const err = (data as { error?: { code?: string; message?: string; field?: string } } | undefined)?.error;
    throw new ApiError(res.status, err?.code ?? "internal", plainMessage(res.status, err?.message), err?.field || undefined);
  }
  return data as T;
}

// plainMessage says what went wrong in words a user can act on. The API's
// own message is kept where it speaks about the input (400, 401, 403, 409:
// "wrong e-mail or password", a field's limit); a missing record, a flood
// guard or a server fault get a sentence instead of a status code.
export function plainMessage(status: number, message?: string): string {
  if (status === 404) return "This record no longer exists: someone may have deleted it. Go back to the list and reload it.";
  if (status === 429) return "Too many requests at once. Wait a few seconds, then try again.";
  if (status >= 500) return `The server had a problem (error ${status}). Try again in a moment.`;
  return message ?? `The server refused the request (error ${status}).`;
}

// The resource endpoints share one shape; resource() gives them typed methods.
function resource<T extends { id: number }>(path: string) {
  return {
    list: (q: Query = {}) => request<Page<T>>("GET", path + queryString(q)),
    get: (id: number) => request<T>("GET", `${path}/${id}`),
    create: (v: Partial<T>) => request<T>("POST", path, v),
    update: (id: number, v: Partial<T>) => request<T>("PATCH", `${path}/${id}`, v),
    remove: (id: number) => request<void>("DELETE", `${path}/${id}`),
  };
}

export const api = {
  session: {
    get: () => request<{ user: User }>("GET", "/session"),
    signIn: (email: string, password: string) =>
      request<{ user: User }>("POST", "/session", { email, password }),
    signOut: () => request<void>("DELETE", "/session"),
  },
  users: {
    list: (q: Query = {}) => request<Page<User>>("GET", "/users" + queryString(q)),
    create: (v: Partial<User> & { password?: string }) => request<User>("POST", "/users", v),
    update: (id: number, v: Partial<User> & { password?: string }) =>
      request<User>("PATCH", `/users/${id}`, v),
  },
  accounts: {
    ...resource<Account>("/accounts"),
    detail: (id: number) => request<AccountDetail>("GET", `/accounts/${id}`),
  },
  contacts: resource<Contact>("/contacts"),
  leads: {
    ...resource<Lead>("/leads"),
    convert: (id: number, v: Conversion) => request<Converted>("POST", `/leads/${id}/convert`, v),
  },
  opportunities: {
    ...resource<Opportunity>("/opportunities"),
    stages: (id: number) => request<{ items: StageChange[] }>("GET", `/opportunities/${id}/stages`),
  },
  activities: resource<Activity>("/activities"),
  reports: {
    pipeline: () => request<PipelineReport>("GET", "/reports/pipeline"),
    activities: () => request<ActivityReport>("GET", "/reports/activities"),
  },
};

export type RecordKind = "accounts" | "contacts" | "leads" | "opportunities" | "activities";

// WRITABLE lists, per kind, the fields POST accepts (app/resources.go); the
// API refuses any other field, so undoing a delete re-creates the record
// from exactly these.
const WRITABLE: Record<RecordKind, string[]> = {
  accounts: ["name", "industry", "website", "phone", "city", "country", "owner_id"],
  contacts: ["first_name", "last_name", "email", "phone", "title", "account_id", "owner_id"],
  leads: ["first_name", "last_name", "company", "email", "phone", "status", "source", "owner_id"],
  opportunities: ["name", "account_id", "stage", "amount", "probability", "close_date", "owner_id"],
  activities: ["kind", "subject", "notes", "due_at", "done", "account_id", "contact_id", "opportunity_id", "owner_id"],
};

// restoreBody is the create request that brings a deleted record back (with
// a new id): its writable fields, without the nulls and empties the API
// would fill in anyway.
export function restoreBody(kind: RecordKind, rec: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of WRITABLE[kind]) {
    const v = (rec as Record<string, unknown>)[k];
    if (v !== undefined && v !== null && v !== "") out[k] = v;
  }
  return out;
}

export function fullName(p: { first_name?: string; last_name?: string }): string {
  return [p.first_name, p.last_name].filter(Boolean).join(" ");
}

export function stageLabel(s: string): string {
  const l = s.replace(/_/g, " ");
  return l.charAt(0).toUpperCase() + l.slice(1);
}

const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });
export function formatMoney(n: number | undefined | null): string {
  return money.format(Number(n ?? 0));
}

export function formatDate(s: string | undefined | null): string {
  if (!s) return "";
  const d = new Date(s);
  if (isNaN(d.getTime())) return s;
  return d.toISOString().slice(0, 10);
}
