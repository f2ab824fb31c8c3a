// Forms for records that hang off an account: opportunities and activities.
import { useState } from "react";
import { ACTIVITY_KINDS, api, STAGES, stageLabel, type Activity, type ActivityKind, type Opportunity, type Stage } from "../api";
import { FormCard, SelectField, TextArea, TextField } from "../components/Field";
import { collect, rules, useForm } from "../form";
import { reopenQuestion } from "../pipeline";
import { useAsync, useDebounced } from "../useAsync";

// AccountPicker links a new record to an account: type part of its name,
// then choose among the first matches (the API searches, 25M records do not
// fit a browser). "No account" is always a choice.
export function AccountPicker({ value, onChange }: { value: number | null; onChange: (id: number | null) => void }) {
  const [q, setQ] = useState("");
  const query = useDebounced(q.trim(), 250);
  const found = useAsync(() => (query ? api.accounts.list({ q: query, limit: 10, sort: "name" }) : Promise.resolve({ items: [], next: "" })), [query]);
  const items = found.data?.items ?? [];
  const [name, setName] = useState<string>("");
  return (
    <div className="grid2">
      <TextField label="Find account" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Type part of a name…" hint={found.error ? found.error.message : undefined} />
      <SelectField
        label="Account"
        value={value ?? ""}
        onChange={(e) => {
          const id = e.target.value ? Number(e.target.value) : null;
          setName(items.find((a) => a.id === id)?.name ?? "");
          onChange(id);
        }}
      >
        <option value="">No account</option>
        {value !== null && !items.some((a) => a.id === value) && <option value={value}>{name || "Chosen account"}</option>}
        {items.map((a) => (
          <option key={a.id} value={a.id}>
            {a.name}
            {a.city ? ` (${a.city})` : ""}
          </option>
        ))}
      </SelectField>
    </div>
  );
}

type OppValues = { name: string; amount: string; stage: Stage; close_date: string };

export function validateOpportunity(v: OppValues) {
  return collect([
    ["name", rules.required(v.name, "Name")],
    [
      "amount",
      rules.required(v.amount, "Amount") ??
        rules.nonNegative(v.amount, "Amount") ??
        // The API's Money type stops at 1e12 (app/fields.go).
        (Number(v.amount) > 1e12 ? "Amount must be at most 1,000,000,000,000." : undefined),
    ],
  ]);
}

// OpportunityForm creates a deal on an account, or edits one (opportunity).
export function OpportunityForm({
  accountId,
  opportunity,
  onDone,
}: {
  accountId: number;
  opportunity?: Opportunity;
  onDone: (o?: Opportunity) => void;
}) {
  const f = useForm<OppValues>(
    {
      name: opportunity?.name ?? "",
      amount: opportunity ? String(opportunity.amount) : "",
      stage: opportunity?.stage ?? "prospecting",
      close_date: opportunity?.close_date?.slice(0, 10) ?? "",
    },
    validateOpportunity,
  );
  return (
    <FormCard
      label={opportunity ? "Edit opportunity" : "New opportunity"}
      banner={f.banner}
      busy={f.busy}
      submitLabel={opportunity ? "Save opportunity" : "Add opportunity"}
      onCancel={() => onDone()}
      onSubmit={() =>
        void f.submit(async (v) => {
          const question = opportunity && reopenQuestion(opportunity.name, opportunity.stage, v.stage);
          if (question && !window.confirm(question)) return;
          const body = { name: v.name.trim(), amount: Number(v.amount), stage: v.stage, close_date: v.close_date || null };
          onDone(
            opportunity
              ? await api.opportunities.update(opportunity.id, body)
              : await api.opportunities.create({ account_id: accountId, ...body }),
          );
        })
      }
    >
      <div className="grid2">
        <TextField label="Opportunity name" required {...f.bind("name")} />
        <TextField label="Amount (USD)" required inputMode="decimal" {...f.bind("amount")} />
        <SelectField label="Stage" {...f.bind("stage")}>
          {STAGES.map((s) => (
            <option key={s} value={s}>
              {stageLabel(s)}
            </option>
          ))}
        </SelectField>
        <TextField label="Expected close" type="date" {...f.bind("close_date")} />
      </div>
    </FormCard>
  );
}

type ActValues = { kind: ActivityKind; subject: string; notes: string; due_at: string };

export function validateActivity(v: ActValues) {
  return collect([
    ["subject", rules.required(v.subject, "Subject") ?? rules.maxLen(v.subject, 200, "Subject")],
    ["due_at", v.kind === "task" ? rules.required(v.due_at, "Due date") : undefined],
  ]);
}

// toDueAt turns a date input's yyyy-mm-dd into an RFC 3339 instant at the
// end of that day in the user's zone, which is what "due" means to a person.
export function toDueAt(day: string): string | null {
  if (!day) return null;
  const d = new Date(day + "T23:59:00");
  return isNaN(d.getTime()) ? null : d.toISOString();
}

// ActivityForm logs an activity linked to the record it is opened from
// (account, contact, deal); without an account it offers to pick one.
export function ActivityForm({
  accountId,
  contactId,
  opportunityId,
  defaultKind = "call",
  onDone,
}: {
  accountId?: number;
  contactId?: number;
  opportunityId?: number;
  defaultKind?: ActivityKind;
  onDone: (a?: Activity) => void;
}) {
  const f = useForm<ActValues>({ kind: defaultKind, subject: "", notes: "", due_at: "" }, validateActivity);
  const [picked, setPicked] = useState<number | null>(null);
  return (
    <FormCard
      label="Log activity"
      banner={f.banner}
      busy={f.busy}
      submitLabel={f.values.kind === "task" ? "Add task" : "Log activity"}
      onCancel={() => onDone()}
      onSubmit={() =>
        void f.submit(async (v) => {
          const body: Partial<Activity> = { kind: v.kind, subject: v.subject.trim(), notes: v.notes };
          const account = accountId ?? picked;
          if (account) body.account_id = account;
          if (contactId) body.contact_id = contactId;
          if (opportunityId) body.opportunity_id = opportunityId;
          if (v.kind === "task") {
            body.due_at = toDueAt(v.due_at);
            body.done = false;
          }
          onDone(await api.activities.create(body));
        })
      }
    >
      <div className="grid2">
        <SelectField label="Kind" {...f.bind("kind")}>
          {ACTIVITY_KINDS.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </SelectField>
        <TextField label="Subject" required {...f.bind("subject")} />
        {f.values.kind === "task" && (
          <TextField label="Due date" type="date" required {...f.bind("due_at")} />
        )}
      </div>
      {!accountId && <AccountPicker value={picked} onChange={setPicked} />}
      <TextArea label="Notes" rows={3} {...f.bind("notes")} />
    </FormCard>
  );
}
