document.querySelectorAll("#pulls th").forEach((th, column) => th.addEventListener("click", () => {
  const body = document.querySelector("#pulls tbody");
  const key = (row) => row.cells[column].dataset.key ?? row.cells[column].textContent;
  const dir = th.dataset.dir === "asc" ? "desc" : "asc";
  document.querySelectorAll("#pulls th").forEach((other) => delete other.dataset.dir);
  th.dataset.dir = dir;
  const rows = [...body.rows].sort((a, b) => key(a).localeCompare(key(b), undefined, {numeric: true}));
  (dir === "asc" ? rows : rows.reverse()).forEach((row) => body.appendChild(row));
}));
