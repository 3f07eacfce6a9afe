// The navigation bar's links, derived from the router's routes: every route whose meta names a
// nav label key (meta.nav), in the routes' order.  Pure, so node tests can check it.
export function navLinks(routes) {
  return routes.filter((r) => r.meta && r.meta.nav).map((r) => ({ to: r.path, label: r.meta.nav }))
}
