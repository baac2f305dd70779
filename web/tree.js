// tree.js: draws a VM's snapshot tree as SVG. d3-hierarchy (global `d3`, d3.stratify +
// d3.tree) does the layout; this module draws cards and links, marks the current snapshot
// ("you are here"), and handles selection, keyboard moves, collapsed subtrees, compacted
// long chains (for trees of hundreds of snapshots), zoom and panning. A redraw keeps the
// keyboard focus on the node that had it.

import { formatTime, keepFocus, snapshotStateText, stateWord } from './ui.js';

const SVG = 'http://www.w3.org/2000/svg';
const ROOT_ID = '\u0000vm'; // ids with control characters are never snapshot names
const CHAIN_PREFIX = '\u0001';
const CARD_W = 210;
const CARD_H = 84;
const CHAIN_H = 52;
const ROW = CARD_H + 66; // vertical distance between generations
const ROOT_ROW = 70; // from the VM pill to the first generation
const PAD = 36;
const TEXT_W = CARD_W - 24;
const MIN_SCALE = 0.15;
const MAX_SCALE = 2;
export const COMPACT_FROM = 40; // trees this big start with long chains compacted

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Puts STR into the <text> NODE, shortened with an ellipsis to fit WIDTH pixels. */
function fitText(node, str, width) {
  node.textContent = str;
  if (!str || node.getComputedTextLength() <= width) return;
  const chars = Array.from(str);
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    node.textContent = `${chars.slice(0, mid).join('')}…`;
    if (node.getComputedTextLength() <= width) lo = mid;
    else hi = mid - 1;
  }
  node.textContent = `${chars.slice(0, lo).join('')}…`;
}

const isSnapshotId = (id) => id !== ROOT_ID && !id.startsWith(CHAIN_PREFIX);

export class SnapshotTree {
  /**
   * SCROLLER is the scrolling box that holds SVGEL. Callbacks: onSelect(name|null),
   * onRename(name) (F2 / double click), onDelete(name) (Delete key), onChange() (after render).
   */
  constructor(scroller, svgEl, callbacks = {}) {
    this.scroller = scroller;
    this.svg = svgEl;
    this.cb = callbacks;
    this.vm = null;
    this.snaps = [];
    this.byName = new Map();
    this.kids = new Map();
    this.collapsed = new Set(); // snapshots whose subtree is folded away
    this.compact = false; // draw runs of single-child snapshots as one "⋯ N snapshots" node
    this.shown = new Set(); // snapshots the user unfolded out of a compacted chain
    this.selected = null;
    this.scale = 1;
    this.drawn = new Map(); // id → {x, y, h, node (d3), g}
    this.bounds = { x: 0, y: 0, w: 1, h: 1 };
    this.installPan();
    this.installZoomWheel();
    this.svg.addEventListener('keydown', (e) => this.onKey(e));
    if (window.ResizeObserver) {
      // A new window size: keep the selected snapshot in view.
      let last = '';
      new ResizeObserver(() => {
        const size = `${this.scroller.clientWidth}x${this.scroller.clientHeight}`;
        if (size !== last && this.selected) this.reveal(this.selected, false);
        last = size;
      }).observe(this.scroller);
    }
  }

  /** New data; keeps selection, collapsed subtrees and unfolded chains for the same VM. */
  setData(vm, snapshots) {
    if (vm !== this.vm) {
      this.collapsed.clear();
      this.shown.clear();
      this.selected = null;
      this.scale = 1;
      this.compact = null; // decided when the first snapshots arrive
    }
    if (this.compact === null && snapshots.length) this.compact = snapshots.length >= COMPACT_FROM;
    this.vm = vm;
    this.snaps = snapshots;
    this.byName = new Map(snapshots.map((s) => [s.name, s]));
    this.kids = new Map();
    for (const s of snapshots) {
      const parent = this.parentKey(s);
      if (!this.kids.has(parent)) this.kids.set(parent, []);
      this.kids.get(parent).push(s.name);
    }
    for (const set of [this.collapsed, this.shown]) {
      for (const name of [...set]) if (!this.byName.has(name)) set.delete(name);
    }
    if (this.selected !== null && !this.byName.has(this.selected)) this.selected = null;
    if (this.selected === null) this.selected = this.current();
    this.render();
  }

  parentKey(s) {
    return s.parent && this.byName.has(s.parent) ? s.parent : ROOT_ID;
  }

  current() {
    const cur = this.snaps.find((s) => s.current);
    return cur ? cur.name : null;
  }

  children(name) {
    return this.kids.get(name) || [];
  }

  /** Every snapshot under NAME (not NAME itself), parents first. */
  descendants(name) {
    const out = [];
    const stack = [...this.children(name)].reverse();
    while (stack.length) {
      const n = stack.pop();
      out.push(n);
      stack.push(...[...this.children(n)].reverse());
    }
    return out;
  }

  ancestors(name) {
    const out = [];
    let s = this.byName.get(name);
    while (s && s.parent && this.byName.has(s.parent)) {
      out.push(s.parent);
      s = this.byName.get(s.parent);
    }
    return out;
  }

  isCollapsed(name) {
    return this.collapsed.has(name);
  }

  /** How many snapshots are drawn as their own card. */
  visibleCount() {
    let n = 0;
    for (const id of this.drawn.keys()) if (isSnapshotId(id)) n++;
    return n;
  }

  toggle(name) {
    if (!this.children(name).length) return;
    if (this.collapsed.has(name)) this.collapsed.delete(name);
    else this.collapsed.add(name);
    this.render();
    this.reveal(name, true);
  }

  collapseAll() {
    for (const s of this.snaps) if (this.children(s.name).length) this.collapsed.add(s.name);
    // Keep the way to the current snapshot open, so "you are here" stays visible.
    const cur = this.current();
    if (cur) for (const a of this.ancestors(cur)) this.collapsed.delete(a);
    if (this.selected && this.ancestors(this.selected).some((a) => this.collapsed.has(a))) this.selected = cur;
    this.render();
    if (this.selected) this.reveal(this.selected, false);
  }

  expandAll() {
    this.collapsed.clear();
    this.render();
    if (this.selected) this.reveal(this.selected, false);
  }

  setCompact(on) {
    this.compact = on;
    this.shown.clear();
    this.render();
    if (this.selected) this.reveal(this.selected, false);
  }

  /** Selects NAME (unfolding what hides it), scrolls it into view, optionally focuses it. */
  select(name, focus = false) {
    if (name !== null && !this.byName.has(name)) return;
    this.selected = name;
    if (name !== null) {
      for (const a of this.ancestors(name)) this.collapsed.delete(a);
      if (!this.drawn.has(name)) this.shown.add(name);
    }
    if (name !== null && !this.drawn.has(name)) this.render();
    else this.markSelection();
    if (name !== null) this.reveal(name, focus);
    if (this.cb.onSelect) this.cb.onSelect(name);
  }

  nodeEl(id) {
    const d = this.drawn.get(id);
    return d ? d.g : null;
  }

  /** Scrolls the drawn node ID into view (with a margin); optionally focuses it. */
  reveal(id, focus) {
    const d = this.drawn.get(id);
    if (!d) return;
    const s = this.scale;
    const sc = this.scroller;
    const offX = Math.max(0, (sc.clientWidth - this.bounds.w * s) / 2); // the SVG is centred
    const left = (d.x - CARD_W / 2 - this.bounds.x) * s + offX;
    const top = (d.y - 24 - this.bounds.y) * s;
    const right = left + CARD_W * s;
    const bottom = top + (d.h + 34) * s;
    if (left < sc.scrollLeft) sc.scrollLeft = left - 20;
    else if (right > sc.scrollLeft + sc.clientWidth) sc.scrollLeft = right - sc.clientWidth + 20;
    if (top < sc.scrollTop) sc.scrollTop = top - 20;
    else if (bottom > sc.scrollTop + sc.clientHeight) sc.scrollTop = bottom - sc.clientHeight + 20;
    if (focus) d.g.focus({ preventScroll: true });
  }

  markSelection() {
    let any = false;
    for (const [id, d] of this.drawn) {
      if (!d.g) continue;
      const on = id === this.selected;
      any = any || on;
      if (isSnapshotId(id)) {
        d.g.classList.toggle('selected', on);
        d.g.setAttribute('aria-selected', on ? 'true' : 'false');
      }
      d.g.setAttribute('tabindex', on ? '0' : '-1');
    }
    if (!any) {
      const first = this.svg.querySelector('g.snap-node, g.chain-node');
      if (first) first.setAttribute('tabindex', '0');
    }
  }

  /* ---------- layout and drawing ---------- */

  /** Rows for d3.stratify: the VM, the snapshots, and compacted chains in their place. */
  rows() {
    const hideable = (s) => this.compact && this.children(s.name).length === 1 &&
      this.parentKey(s) !== ROOT_ID && !s.current && s.name !== this.selected &&
      !this.collapsed.has(s.name) && !this.shown.has(s.name);
    const chainOf = new Map(); // hidden snapshot → chain
    const chains = [];
    for (const s of this.snaps) { // parents come before children
      if (!hideable(s)) continue;
      const above = chainOf.get(this.parentKey(s));
      if (above) {
        above.members.push(s.name);
        chainOf.set(s.name, above);
      } else {
        const chain = { id: CHAIN_PREFIX + s.name, members: [s.name], parentKey: this.parentKey(s) };
        chains.push(chain);
        chainOf.set(s.name, chain);
      }
    }
    for (const c of chains) if (c.members.length < 3) for (const m of c.members) chainOf.delete(m);
    const up = (key) => (chainOf.has(key) ? chainOf.get(key).id : key);
    const rows = [{ id: ROOT_ID, parentKey: null }];
    for (const s of this.snaps) {
      const chain = chainOf.get(s.name);
      if (!chain) rows.push({ id: s.name, parentKey: up(this.parentKey(s)), snap: s });
      else if (chain.members[0] === s.name) rows.push({ id: chain.id, parentKey: chain.parentKey, chain });
    }
    return rows;
  }

  render() {
    keepFocus(this.svg, () => this.draw());
  }

  draw() {
    const svgEl = this.svg;
    svgEl.replaceChildren();
    this.drawn.clear();
    if (!this.snaps.length) {
      svgEl.setAttribute('width', 0);
      svgEl.setAttribute('height', 0);
      if (this.cb.onChange) this.cb.onChange();
      return;
    }
    const root = d3.stratify().id((d) => d.id).parentId((d) => d.parentKey)(this.rows());
    // Collapsed subtrees: drop their children before the layout (eachBefore then skips them).
    root.eachBefore((node) => {
      if (node.children && this.collapsed.has(node.id)) {
        node.hiddenCount = this.descendants(node.id).length;
        node.children = undefined;
      }
    });
    d3.tree().nodeSize([CARD_W + 26, ROW]).separation((a, b) => (a.parent === b.parent ? 1 : 1.12))(root);
    const yOf = (node) => (node.depth === 0 ? 0 : ROOT_ROW + (node.depth - 1) * ROW);
    const hOf = (node) => (node.depth === 0 ? 14 : node.data.chain ? CHAIN_H : CARD_H);

    const nodes = root.descendants();
    let minX = Infinity;
    let maxX = -Infinity;
    let maxY = 0;
    for (const n of nodes) {
      minX = Math.min(minX, n.x - CARD_W / 2);
      maxX = Math.max(maxX, n.x + CARD_W / 2);
      maxY = Math.max(maxY, yOf(n) + hOf(n) + 20);
    }
    this.bounds = { x: minX - PAD, y: -PAD, w: maxX - minX + 2 * PAD, h: maxY + 2 * PAD };
    svgEl.setAttribute('viewBox', `${this.bounds.x} ${this.bounds.y} ${this.bounds.w} ${this.bounds.h}`);
    this.applyScale();

    const links = svg('g', { class: 'links' });
    const cards = svg('g', { class: 'nodes' });
    svgEl.append(links, cards);

    for (const n of nodes) {
      if (!n.parent) continue;
      const x1 = n.parent.x;
      const y1 = yOf(n.parent) + hOf(n.parent);
      const x2 = n.x;
      const y2 = yOf(n);
      const mid = (y1 + y2) / 2;
      const snapOrEmpty = (h) => (h.depth === 0 ? '' : h.data.chain ? h.id.slice(1) : h.id);
      links.append(svg('path', {
        class: `link${n.parent.depth === 0 ? ' from-vm' : ''}${n.data.chain || n.parent.data.chain ? ' via-chain' : ''}`,
        d: `M${x1},${y1} C${x1},${mid} ${x2},${mid} ${x2},${y2}`,
        'data-from': n.parent.data.chain ? n.parent.data.chain.members.at(-1) : snapOrEmpty(n.parent),
        'data-to': snapOrEmpty(n),
      }));
    }

    const vmPill = svg('g', { class: 'vm-root', transform: `translate(${root.x},0)`, 'aria-hidden': 'true' });
    const vmText = svg('text', { class: 'vm-root-label', x: 0, y: 5, 'text-anchor': 'middle' });
    vmPill.append(svg('rect', { x: -CARD_W / 2, y: -14, width: CARD_W, height: 28, rx: 14 }), vmText);
    cards.append(vmPill);
    fitText(vmText, `VM ${this.vm}`, CARD_W - 24);

    for (const n of nodes) {
      if (n.depth === 0) continue;
      const x = n.x;
      const y = yOf(n);
      const g = n.data.chain ? this.drawChain(n, x, y, cards) : this.drawCard(n.data.snap, n, x, y, cards);
      this.drawn.set(n.id, { x, y, h: hOf(n), node: n, g });
    }
    this.markSelection();
    if (this.cb.onChange) this.cb.onChange();
  }

  /** Draws snapshot S (d3 node N) into PARENT; text is measured, so it is attached first. */
  drawCard(s, n, x, y, parent) {
    const kids = this.children(s.name).length;
    const collapsed = this.collapsed.has(s.name) && kids > 0;
    const state = ['running', 'shutoff', 'paused'].includes(s.state) ? s.state : 'other';
    const label = [
      s.name,
      `taken ${formatTime(s.created)}`,
      snapshotStateText(s),
      s.description ? `description: ${s.description}` : 'no description',
      s.current ? 'current snapshot, you are here' : null,
      kids ? `${kids} ${kids === 1 ? 'child' : 'children'}${collapsed ? `, collapsed, ${n.hiddenCount} hidden` : ''}` : null,
    ].filter(Boolean).join('; ');
    const g = svg('g', {
      class: `snap-node state-${state}${s.current ? ' current' : ''}${collapsed ? ' collapsed' : ''}`,
      transform: `translate(${x - CARD_W / 2},${y})`,
      role: 'treeitem',
      tabindex: '-1',
      'aria-level': String(n.depth),
      'aria-label': label,
      'data-name': s.name,
      'data-parent': s.parent || '',
      'data-current': s.current ? 'true' : 'false',
    });
    if (kids) g.setAttribute('aria-expanded', collapsed ? 'false' : 'true');
    parent.append(g);
    g.append(svg('title', {}, `${s.name}${s.description ? `\n${s.description}` : ''}`));
    g.append(svg('rect', { class: 'card', width: CARD_W, height: CARD_H, rx: 6 }));
    g.append(svg('rect', { class: 'stripe', width: 6, height: CARD_H, rx: 3 }));
    const name = svg('text', { class: 'snap-name', x: 14, y: 21 });
    const time = svg('text', { class: 'snap-time', x: 14, y: 39 }, formatTime(s.created));
    const st = svg('text', { class: 'snap-state', x: 14, y: 56 },
      `${s.state === 'running' ? '●' : '○'} ${stateWord(s.state)} · ${s.memory ? 'with memory' : 'disk only'}`);
    const desc = svg('text', { class: s.description ? 'snap-desc' : 'snap-desc none', x: 14, y: 74 });
    g.append(name, time, st, desc);
    fitText(name, s.name, TEXT_W);
    fitText(desc, s.description || 'no description', TEXT_W);
    if (s.current) {
      // A tab on the card's top-left corner, clear of the incoming link (top centre).
      const badge = svg('g', { class: 'here-badge' });
      const text = svg('text', { x: 7, y: -6 }, 'YOU ARE HERE');
      const rect = svg('rect', { x: 0, y: -20, width: 90, height: 20, rx: 4 });
      badge.append(rect, text);
      g.append(badge);
      rect.setAttribute('width', Math.ceil(text.getComputedTextLength()) + 16 || 90);
    }
    if (kids) {
      const t = svg('g', { class: 'toggle', transform: `translate(${CARD_W / 2},${CARD_H})` });
      const text = collapsed ? `+${n.hiddenCount}` : '−';
      const w = collapsed ? 14 + 8 * text.length : 22;
      t.append(svg('title', {}, collapsed ? `Show ${n.hiddenCount} hidden snapshot(s)` : 'Collapse this subtree'),
        svg('rect', { x: -w / 2, y: -10, width: w, height: 20, rx: 10 }),
        svg('text', { x: 0, y: 5, 'text-anchor': 'middle' }, text));
      t.addEventListener('click', (e) => {
        e.stopPropagation();
        this.selected = s.name;
        this.toggle(s.name);
        if (this.cb.onSelect) this.cb.onSelect(s.name);
      });
      g.append(t);
    }
    g.addEventListener('click', () => this.select(s.name, true));
    g.addEventListener('dblclick', () => this.cb.onRename && this.cb.onRename(s.name));
    return g;
  }

  /** A run of single-child snapshots drawn as one node; activating it unfolds the run. */
  drawChain(n, x, y, parent) {
    const { members } = n.data.chain;
    const first = members[0];
    const last = members[members.length - 1];
    const g = svg('g', {
      class: 'chain-node',
      transform: `translate(${x - CARD_W / 2},${y})`,
      role: 'treeitem',
      tabindex: '-1',
      'aria-level': String(n.depth),
      'aria-label': `${members.length} snapshots in a row, from ${first} to ${last}, folded; press Enter to show them`,
      'data-first': first,
      'data-last': last,
      'data-count': String(members.length),
    });
    parent.append(g);
    g.append(svg('title', {}, `${members.length} snapshots, each with one child: ${first} … ${last}. Click to show them.`));
    g.append(svg('rect', { class: 'card', width: CARD_W, height: CHAIN_H, rx: 6 }));
    const count = svg('text', { class: 'chain-count', x: 14, y: 21 }, `⋯ ${members.length} snapshots`);
    const range = svg('text', { class: 'chain-range', x: 14, y: 40 });
    g.append(count, range);
    fitText(range, `${first} … ${last}`, TEXT_W);
    g.addEventListener('click', () => this.unfold(n.id));
    return g;
  }

  unfold(chainId) {
    const d = this.drawn.get(chainId);
    if (!d) return;
    for (const m of d.node.data.chain.members) this.shown.add(m);
    const first = d.node.data.chain.members[0];
    this.render();
    this.reveal(first, false);
    const g = this.nodeEl(first);
    if (g) {
      for (const other of this.drawn.values()) other.g.setAttribute('tabindex', '-1');
      g.setAttribute('tabindex', '0');
      g.focus({ preventScroll: true });
    }
  }

  /* ---------- keyboard ---------- */

  /** Moves focus to the drawn node ID: a snapshot is selected, a chain only focused. */
  focusId(id) {
    if (isSnapshotId(id)) {
      this.select(id, true);
      return;
    }
    for (const d of this.drawn.values()) d.g.setAttribute('tabindex', '-1');
    const d = this.drawn.get(id);
    d.g.setAttribute('tabindex', '0');
    this.reveal(id, true);
  }

  onKey(e) {
    const g = e.target.closest && e.target.closest('g.snap-node, g.chain-node');
    if (!g) return;
    const id = g.classList.contains('chain-node') ? CHAIN_PREFIX + g.dataset.first : g.dataset.name;
    const here = this.drawn.get(id);
    if (!here) return;
    const snap = isSnapshotId(id) ? id : null;
    let next = null;
    switch (e.key) {
      case 'ArrowUp':
        next = here.node.parent && here.node.parent.depth > 0 ? here.node.parent.id : null;
        break;
      case 'ArrowDown':
        if (snap && this.collapsed.has(snap)) {
          this.collapsed.delete(snap);
          this.render();
        }
        next = this.drawn.get(id).node.children ? this.drawn.get(id).node.children[0].id : null;
        break;
      case 'ArrowLeft':
      case 'ArrowRight': {
        const dir = e.key === 'ArrowLeft' ? -1 : 1;
        let best = null;
        for (const [other, d] of this.drawn) {
          if (d.y !== here.y || (d.x - here.x) * dir <= 0) continue;
          if (!best || Math.abs(d.x - here.x) < Math.abs(best[1].x - here.x)) best = [other, d];
        }
        next = best ? best[0] : null;
        break;
      }
      case 'Home': {
        const top = [...this.drawn.values()].find((d) => d.node.depth === 1);
        next = top ? top.node.id : null;
        break;
      }
      case 'End':
        next = this.current();
        break;
      case '-':
      case '+':
        if (snap && this.children(snap).length && (e.key === '-') !== this.collapsed.has(snap)) this.toggle(snap);
        e.preventDefault();
        return;
      case 'Enter':
      case ' ':
        if (snap) this.select(snap, true);
        else this.unfold(id);
        e.preventDefault();
        return;
      case 'F2':
        if (snap && this.cb.onRename) this.cb.onRename(snap);
        e.preventDefault();
        return;
      case 'Delete':
        if (snap && this.cb.onDelete) this.cb.onDelete(snap);
        e.preventDefault();
        return;
      default:
        return;
    }
    e.preventDefault();
    if (next) this.focusId(next);
  }

  /* ---------- zoom and pan ---------- */

  applyScale() {
    this.svg.setAttribute('width', Math.ceil(this.bounds.w * this.scale));
    this.svg.setAttribute('height', Math.ceil(this.bounds.h * this.scale));
  }

  /** Zooms to SCALE keeping the content point under (CX, CY) (scroller coordinates) fixed. */
  zoomTo(scale, cx, cy) {
    const sc = this.scroller;
    const s = Math.min(MAX_SCALE, Math.max(MIN_SCALE, scale));
    const px = cx === undefined ? sc.clientWidth / 2 : cx;
    const py = cy === undefined ? sc.clientHeight / 2 : cy;
    const contentX = (sc.scrollLeft + px) / this.scale;
    const contentY = (sc.scrollTop + py) / this.scale;
    this.scale = s;
    this.applyScale();
    sc.scrollLeft = contentX * s - px;
    sc.scrollTop = contentY * s - py;
    if (this.cb.onChange) this.cb.onChange();
  }

  zoomBy(factor, cx, cy) {
    this.zoomTo(this.scale * factor, cx, cy);
  }

  fit() {
    const sc = this.scroller;
    const s = Math.min(1, (sc.clientWidth - 8) / this.bounds.w, (sc.clientHeight - 8) / this.bounds.h);
    this.zoomTo(s);
    sc.scrollLeft = 0;
    sc.scrollTop = 0;
  }

  installZoomWheel() {
    this.scroller.addEventListener('wheel', (e) => {
      if (!e.ctrlKey) return;
      e.preventDefault();
      const r = this.scroller.getBoundingClientRect();
      this.zoomBy(e.deltaY < 0 ? 1.15 : 1 / 1.15, e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
  }

  /** Dragging the background pans the tree. */
  installPan() {
    let start = null;
    this.scroller.addEventListener('pointerdown', (e) => {
      if (e.button !== 0 || e.target.closest('g.snap-node, g.chain-node')) return;
      start = { x: e.clientX, y: e.clientY, left: this.scroller.scrollLeft, top: this.scroller.scrollTop, id: e.pointerId };
    });
    this.scroller.addEventListener('pointermove', (e) => {
      if (!start || e.pointerId !== start.id) return;
      const dx = e.clientX - start.x;
      const dy = e.clientY - start.y;
      if (!this.scroller.classList.contains('panning') && Math.hypot(dx, dy) < 4) return;
      if (!this.scroller.classList.contains('panning')) {
        this.scroller.classList.add('panning');
        this.scroller.setPointerCapture(e.pointerId);
      }
      this.scroller.scrollLeft = start.left - dx;
      this.scroller.scrollTop = start.top - dy;
    });
    const end = () => {
      start = null;
      this.scroller.classList.remove('panning');
    };
    this.scroller.addEventListener('pointerup', end);
    this.scroller.addEventListener('pointercancel', end);
  }
}
