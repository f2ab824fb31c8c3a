import { api, formatDate, formatMoney, stageLabel, type Activity, type ActivityReport, type PipelineReport } from "../api";
import { BarChart } from "../components/BarChart";
import { ErrorBanner } from "../components/Field";
import { Link } from "../router";
import { useAsync } from "../useAsync";

const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });
const moneyShort = (n: number) => "$" + compact.format(n);

export function weekdayLabel(day: string): string {
  const d = new Date(day.length === 10 ? day + "T00:00:00Z" : day);
  if (isNaN(d.getTime())) return day;
  return d.toLocaleDateString("en-US", { weekday: "short", timeZone: "UTC" });
}

const SHORT: Record<string, string> = {
  prospecting: "Prosp.",
  qualification: "Qualif.",
  proposal: "Prop.",
  negotiation: "Negot.",
  closed_won: "Won",
  closed_lost: "Lost",
};

export function pipelineBars(r: PipelineReport | undefined) {
  return (r?.stages ?? []).map((s) => ({
    label: stageLabel(s.stage),
    short: SHORT[s.stage],
    value: Number(s.amount) || 0,
    note: `${s.count} deal${s.count === 1 ? "" : "s"}`,
  }));
}

export function Dashboard() {
  const pipeline = useAsync<PipelineReport>(() => api.reports.pipeline(), []);
  const week = useAsync<ActivityReport>(() => api.reports.activities(), []);
  const tasks = useAsync(() => api.activities.list({ kind: "task", done: false, sort: "updated", limit: 5 }), []);

  const open = (pipeline.data?.stages ?? []).filter((s) => !s.stage.startsWith("closed"));
  const openValue = open.reduce((a, s) => a + (Number(s.amount) || 0), 0);
  const openCount = open.reduce((a, s) => a + s.count, 0);
  const won = pipeline.data?.stages.find((s) => s.stage === "closed_won");
  const weekTotal = (week.data?.days ?? []).reduce((a, d) => a + d.count, 0);

  return (
    <section>
      <h1>Dashboard</h1>
      <ErrorBanner error={pipeline.error?.message || week.error?.message} />
      <div className="kpis">
        <div className="kpi">
          <span>Open pipeline</span>
          <strong>{formatMoney(openValue)}</strong>
          <small>{openCount} open deals</small>
        </div>
        <div className="kpi">
          <span>Won</span>
          <strong>{formatMoney(won?.amount)}</strong>
          <small>{won?.count ?? 0} deals</small>
        </div>
        <div className="kpi">
          <span>Activities this week</span>
          <strong>{weekTotal}</strong>
          <small>calls, meetings, tasks, notes</small>
        </div>
      </div>
      <div className="charts">
        <BarChart title="Pipeline value by stage" bars={pipelineBars(pipeline.data)} format={moneyShort} />
        <BarChart
          title="Activities this week"
          color="var(--accent-2)"
          integer
          bars={(week.data?.days ?? []).map((d) => ({ label: weekdayLabel(d.day), value: d.count }))}
        />
      </div>
      <h2>Open tasks</h2>
      <TaskPeek items={tasks.data?.items} />
      <p>
        <Link href="/activities">All activities and tasks →</Link>
      </p>
    </section>
  );
}

function TaskPeek({ items }: { items?: Activity[] }) {
  if (!items) return <p className="muted">Loading…</p>;
  if (items.length === 0) return <p className="muted">No open tasks.</p>;
  return (
    <ul className="plain">
      {items.map((t) => (
        <li key={t.id}>
          {t.subject} {t.due_at && <span className="muted">due {formatDate(t.due_at)}</span>}
        </li>
      ))}
    </ul>
  );
}
