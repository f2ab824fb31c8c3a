import { useEffect, useState } from "react";
import { ACTIVITY_KINDS, api, formatDate, type Activity } from "../api";
import { DeleteButton } from "../components/DeleteButton";
import { ErrorBanner, SelectField } from "../components/Field";
import { LoadState } from "../components/LoadState";
import { useDelete } from "../notice";
import { Pager, useCursor } from "../components/Pager";
import { Link } from "../router";
import { useSession } from "../session";
import { useAsync } from "../useAsync";
import { ActivityForm } from "./forms";

export function Activities() {
  const [adding, setAdding] = useState(false);
  const [version, setVersion] = useState(0);
  return (
    <section>
      <div className="title-row">
        <h1>Activities</h1>
        <button type="button" className="primary" onClick={() => setAdding((a) => !a)} aria-expanded={adding}>
          Log activity
        </button>
      </div>
      {adding && (
        <ActivityForm
          defaultKind="task"
          onDone={(a) => {
            setAdding(false);
            if (a) setVersion((v) => v + 1);
          }}
        />
      )}
      <div className="detail-grid">
        <Tasks version={version} />
        <Log version={version} />
      </div>
    </section>
  );
}

export function isOverdue(t: Activity, now: Date): boolean {
  return !t.done && !!t.due_at && new Date(t.due_at).getTime() < now.getTime();
}

function Tasks({ version }: { version: number }) {
  const { user } = useSession();
  const [showDone, setShowDone] = useState(false);
  const cursor = useCursor(JSON.stringify([showDone, version]));
  const list = useAsync(
    () => api.activities.list({ kind: "task", done: showDone ? undefined : false, owner_id: user.id, sort: "updated", after: cursor.after, limit: 25 }),
    [showDone, version, cursor.after],
  );
  const [items, setItems] = useState<Activity[] | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => setItems(list.data?.items), [list.data]);

  const toggle = async (t: Activity) => {
    const done = !t.done;
    setItems((xs) => xs?.map((x) => (x.id === t.id ? { ...x, done } : x)));
    try {
      await api.activities.update(t.id, { done });
      setError(null);
    } catch (e) {
      setItems((xs) => xs?.map((x) => (x.id === t.id ? { ...x, done: !done } : x)));
      setError((e as Error).message);
    }
  };

  const now = new Date();
  return (
    <section aria-labelledby="tasks-h">
      <div className="title-row">
        <h2 id="tasks-h">My tasks</h2>
        <label className="check">
          <input type="checkbox" checked={showDone} onChange={(e) => setShowDone(e.target.checked)} /> Show done
        </label>
      </div>
      <ErrorBanner error={error} />
      <LoadState state={list} what="tasks" isEmpty={() => (items ?? []).length === 0} empty={showDone ? "No tasks." : "Nothing to do: no open tasks."}>
        {() => (
        <ul className="plain tasks">
          {(items ?? []).map((t) => (
            <li key={t.id} className={(t.done ? "done" : "") + (isOverdue(t, now) ? " overdue" : "")}>
              <label className="check">
                <input type="checkbox" checked={!!t.done} onChange={() => void toggle(t)} />
                <span>{t.subject}</span>
              </label>
              <span className="muted">
                {t.due_at && <>due {formatDate(t.due_at)}</>}
                {isOverdue(t, now) && <strong className="overdue-tag"> overdue</strong>}
                {t.account_id && (
                  <>
                    {" · "}
                    <Link href={`/accounts/${t.account_id}`}>{t.account_name || "account"}</Link>
                  </>
                )}
              </span>
            </li>
          ))}
        </ul>
        )}
      </LoadState>
      <Pager cursor={cursor} next={list.data?.next ?? ""} label="Task pages" />
    </section>
  );
}

function Log({ version }: { version: number }) {
  const [kind, setKind] = useState("");
  const cursor = useCursor(JSON.stringify([kind, version]));
  const list = useAsync(() => api.activities.list({ kind, sort: "-updated", after: cursor.after, limit: 25 }), [kind, version, cursor.after]);
  const remove = useDelete();
  return (
    <section aria-labelledby="log-h">
      <div className="title-row">
        <h2 id="log-h">Activity log</h2>
        <SelectField label="Kind" value={kind} onChange={(e) => setKind(e.target.value)}>
          <option value="">All</option>
          {ACTIVITY_KINDS.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </SelectField>
      </div>
      <LoadState state={list} what="activities" isEmpty={(p) => p.items.length === 0} empty="No activity yet.">
        {(p) => (
        <ul className="plain log">
          {p.items.map((a) => (
            <li key={a.id}>
              <span className={"kind k-" + a.kind}>{a.kind}</span> <strong>{a.subject}</strong>
              <div className="muted">
                {formatDate(a.created_at)}
                {a.account_id && (
                  <>
                    {" · "}
                    <Link href={`/accounts/${a.account_id}`}>{a.account_name || "account"}</Link>
                  </>
                )}
              </div>
              <DeleteButton
                small
                what="activity"
                name={a.subject}
                onDelete={async () => {
                  await remove("activities", a, `Activity ${a.subject}`, { undo: true, onRestored: list.reload });
                  list.reload();
                }}
              />
            </li>
          ))}
        </ul>
        )}
      </LoadState>
      <Pager cursor={cursor} next={list.data?.next ?? ""} label="Activity log pages" />
    </section>
  );
}
