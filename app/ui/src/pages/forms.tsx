// Forms for records that hang off an account: opportunities and activities.
import { ACTIVITY_KINDS, api, STAGES, stageLabel, type Activity, type ActivityKind, type Opportunity, type Stage } from "../api";
import { FormCard, SelectField, TextArea, TextField } from "../components/Field";
import { collect, rules, useForm } from "../form";

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

export function OpportunityForm({ accountId, onDone }: { accountId: number; onDone: (o?: Opportunity) => void }) {
  const f = useForm<OppValues>({ name: "", amount: "", stage: "prospecting", close_date: "" }, validateOpportunity);
  return (
    <FormCard
      label="New opportunity"
      banner={f.banner}
      busy={f.busy}
      submitLabel="Add opportunity"
      onCancel={() => onDone()}
      onSubmit={() =>
        void f.submit(async (v) =>
          onDone(
            await api.opportunities.create({
              account_id: accountId,
              name: v.name.trim(),
              amount: Number(v.amount),
              stage: v.stage,
              close_date: v.close_date || null,
            }),
          ),
        )
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

export function ActivityForm({
  accountId,
  defaultKind = "call",
  onDone,
}: {
  accountId?: number;
  defaultKind?: ActivityKind;
  onDone: (a?: Activity) => void;
}) {
  const f = useForm<ActValues>({ kind: defaultKind, subject: "", notes: "", due_at: "" }, validateActivity);
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
          if (accountId) body.account_id = accountId;
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
      <TextArea label="Notes" rows={3} {...f.bind("notes")} />
    </FormCard>
  );
}
