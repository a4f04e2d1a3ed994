// Lays out a graph with dagre off the main thread (UI.md A.2.5: above 50 nodes).
// The page passes dagre's hashed URL as ?dagre=; same origin, allowed by worker-src 'self'.
/* global dagre */
importScripts(new URL(self.location.href).searchParams.get("dagre"));

self.onmessage = (event) => {
  try {
    self.postMessage({ ok: true, layout: layout(event.data) });
  } catch (error) {
    self.postMessage({ ok: false, error: String(error) });
  }
};

function layout({ nodes, edges, rankdir }) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir, nodesep: 16, ranksep: 48, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(n.id, { width: n.width, height: n.height });
  for (const [a, b] of edges) g.setEdge(a, b);
  dagre.layout(g);
  return {
    width: g.graph().width, height: g.graph().height,
    nodes: Object.fromEntries(nodes.map((n) => [n.id, { x: g.node(n.id).x, y: g.node(n.id).y }])),
    edges: edges.map(([a, b]) => g.edge(a, b).points),
  };
}
