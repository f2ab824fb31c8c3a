// SortHeader is a column header that sorts the list by its key: the first
// press sorts ascending, the next descending. aria-sort tells a screen
// reader which column orders the rows.
export function SortHeader({ label, by, sort, onSort, className }: { label: string; by: string; sort: string; onSort: (s: string) => void; className?: string }) {
  const active = sort === by || sort === "-" + by;
  const desc = sort === "-" + by;
  return (
    <th scope="col" className={className} aria-sort={active ? (desc ? "descending" : "ascending") : "none"}>
      <button type="button" className="sort" onClick={() => onSort(active && !desc ? "-" + by : by)}>
        {label}
        <span aria-hidden="true">{active ? (desc ? " ▼" : " ▲") : " ↕"}</span>
      </button>
    </th>
  );
}
