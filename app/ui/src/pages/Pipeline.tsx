import { useEffect, useRef, useState, type DragEvent, type KeyboardEvent } from "react";
import { api, formatMoney, STAGES, stageLabel, type Opportunity, type Stage } from "../api";
import { ErrorBanner, TextField } from "../components/Field";
import { Link } from "../router";
import { useSession } from "../session";
import { useDebounced } from "../useAsync";
import { columnTotal, emptyBoard, moveCard, neighbour, reopenQuestion, shiftTotals, stageOf, type Board, type Totals } from "../pipeline";

const PAGE = 20;
const DRAG_TYPE = "application/x-crm-opportunity";

// The board loads one page per stage (largest deals first) and more on
// request; with millions of deals nothing else is affordable.
export function Pipeline() {
  const { user } = useSession();
  const [board, setBoard] = useState<Board>(emptyBoard);
  const [q, setQ] = useState("");
  const [mine, setMine] = useState(user.role === "rep");
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState("");
  const [over, setOver] = useState<Stage | null>(null);
  const query = useDebounced(q.trim(), 250);
  const boardRef = useRef(board);
  boardRef.current = board;

  const filter = { q: query, owner_id: mine ? user.id : undefined, sort: "-amount", limit: PAGE };

  // Column totals come from the pipeline report (kept by the database),
  // not from the cards loaded: it covers exactly the deals the user sees,
  // so it applies when the board is not narrowed by a search or "mine"
  // (for a rep, "mine" is all they see). Moves made here adjust it.
  const [totals, setTotals] = useState<Totals | null>(null);
  const whole = !query && (!mine || user.role === "rep");
  useEffect(() => {
    let live = true;
    api.reports.pipeline().then(
      (r) => live && setTotals(Object.fromEntries(r.stages.map((x) => [x.stage, { count: x.count, amount: x.amount }])) as Totals),
      () => live && setTotals(null),
    );
    return () => {
      live = false;
    };
  }, [user.id]);

  // Moves made while a load is in flight are replayed onto its answer,
  // which may have been read before the move reached the server.
  const moves = useRef<{ seq: number; id: number; to: Stage }[]>([]);
  const seq = useRef(0);

  useEffect(() => {
    let live = true;
    setError(null);
    const start = seq.current;
    Promise.all(STAGES.map((stage) => api.opportunities.list({ ...filter, stage }))).then(
      (pages) => {
        if (!live) return;
        let b = emptyBoard();
        STAGES.forEach((s, i) => (b[s] = { items: pages[i].items, next: pages[i].next }));
        for (const m of moves.current) if (m.seq > start) b = moveCard(b, m.id, m.to);
        moves.current = moves.current.filter((m) => m.seq > start);
        setBoard(b);
      },
      (e: Error) => live && setError(e.message),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [query, mine, user.id]);

  const more = async (stage: Stage) => {
    try {
      const page = await api.opportunities.list({ ...filter, stage, after: board[stage].next });
      setBoard((b) => ({ ...b, [stage]: { items: [...b[stage].items, ...page.items], next: page.next } }));
    } catch (e) {
      setError((e as Error).message);
    }
  };

  // move updates the board at once and puts it back if the server refuses.
  const move = async (id: number, to: Stage) => {
    const before = boardRef.current;
    const from = stageOf(before, id);
    const after = moveCard(before, id, to);
    if (after === before || !from) return;
    const name = before[from].items.find((o) => o.id === id)?.name ?? "Deal";
    const question = reopenQuestion(name, from, to);
    if (question && !window.confirm(question)) return;
    moves.current.push({ seq: ++seq.current, id, to });
    setBoard(after);
    setError(null);
    try {
      await api.opportunities.update(id, { stage: to });
      setStatus(`${name} moved to ${stageLabel(to)}.`);
      const amount = Number(before[from].items.find((o) => o.id === id)?.amount) || 0;
      setTotals((t) => t && shiftTotals(t, from, to, amount));
    } catch (e) {
      moves.current.push({ seq: ++seq.current, id, to: from });
      setBoard((cur) => moveCard(cur, id, from));
      setError(`${name} could not be moved: ${(e as Error).message}`);
    }
    // Keep keyboard focus on the card in its new column.
    requestAnimationFrame(() => document.querySelector<HTMLElement>(`[data-opp="${id}"]`)?.focus());
  };

  const drop = (stage: Stage) => (e: DragEvent) => {
    e.preventDefault();
    setOver(null);
    const id = Number(e.dataTransfer.getData(DRAG_TYPE) || e.dataTransfer.getData("text/plain"));
    if (id) void move(id, stage);
  };

  return (
    <section className="pipeline">
      <h1>Pipeline</h1>
      <form className="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <TextField label="Search deals" type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Deal or account name…" />
        <label className="check">
          <input type="checkbox" checked={mine} onChange={(e) => setMine(e.target.checked)} /> My deals only
        </label>
      </form>
      <p className="hint" id="board-help">
        Drag a card to another stage, or focus a card and press ← or → to move it one stage.
      </p>
      <ErrorBanner error={error} />
      <p className="sr-only" aria-live="polite">
        {status}
      </p>
      <div className="board">
        {STAGES.map((stage) => (
          <section
            key={stage}
            className={"column s-" + stage + (over === stage ? " over" : "")}
            aria-labelledby={`col-${stage}`}
            data-stage={stage}
            onDragOver={(e) => {
              e.preventDefault();
              e.dataTransfer.dropEffect = "move";
              if (over !== stage) setOver(stage);
            }}
            onDragLeave={() => setOver((o) => (o === stage ? null : o))}
            onDrop={drop(stage)}
          >
            <header>
              <h2 id={`col-${stage}`}>{stageLabel(stage)}</h2>
              <span className="muted">
                {whole && totals ? (
                  <>
                    {totals[stage].count} · {formatMoney(totals[stage].amount)}
                  </>
                ) : (
                  <>
                    {board[stage].items.length}
                    {board[stage].next ? "+ shown" : ""} · {formatMoney(columnTotal(board[stage]))}
                  </>
                )}
              </span>
            </header>
            <ul className="plain">
              {board[stage].items.map((o) => (
                <Card key={o.id} o={o} onMove={move} />
              ))}
            </ul>
            {board[stage].next && (
              <button type="button" className="more" onClick={() => void more(stage)}>
                Load more
              </button>
            )}
          </section>
        ))}
      </div>
    </section>
  );
}

export function Card({ o, onMove }: { o: Opportunity; onMove: (id: number, to: Stage) => void }) {
  const key = (e: KeyboardEvent) => {
    if (e.target !== e.currentTarget) return;
    const step = e.key === "ArrowLeft" ? -1 : e.key === "ArrowRight" ? 1 : 0;
    if (!step) return;
    const to = neighbour(o.stage, step);
    e.preventDefault();
    if (to) onMove(o.id, to);
  };
  return (
    <li
      className="deal"
      tabIndex={0}
      draggable
      data-opp={o.id}
      aria-describedby="board-help"
      aria-label={`${o.name}, ${formatMoney(o.amount)}, ${stageLabel(o.stage)}`}
      onKeyDown={key}
      onDragStart={(e) => {
        e.dataTransfer.setData(DRAG_TYPE, String(o.id));
        e.dataTransfer.setData("text/plain", String(o.id));
        e.dataTransfer.effectAllowed = "move";
      }}
    >
      <strong>
        {/* Not draggable itself: a drag anywhere on the card moves the deal. */}
        <Link href={`/deals/${o.id}`} draggable={false}>
          {o.name}
        </Link>
      </strong>
      <span className="amount">{formatMoney(o.amount)}</span>
      <div className="deal-foot">
        <Link href={`/accounts/${o.account_id}`}>{o.account_name || "Account"}</Link>
        <label>
          <span className="sr-only">Stage of {o.name}</span>
          <select value={o.stage} onChange={(e) => onMove(o.id, e.target.value as Stage)}>
            {STAGES.map((s) => (
              <option key={s} value={s}>
                {stageLabel(s)}
              </option>
            ))}
          </select>
        </label>
      </div>
    </li>
  );
}
