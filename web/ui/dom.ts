/* What the UI pages share: element lookup, JSON fetch with the API's error text, table cells. */

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** GETs JSON; a non-2xx answer throws with the API's `error` text. */
export async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error((body as { error?: string }).error ?? `HTTP ${r.status}`);
  return body as T;
}

/** Appends a cell per [text, numeric] pair to a table row; numeric cells get class `num`. */
export function appendCells(tr: HTMLTableRowElement, cells: [string, boolean][]): void {
  for (const [text, numeric] of cells) {
    const td = document.createElement('td');
    td.textContent = text;
    if (numeric) td.className = 'num';
    tr.append(td);
  }
}
