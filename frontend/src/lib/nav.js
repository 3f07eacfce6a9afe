// The navigation bar's links, derived from the router's routes: every route whose meta names a
// nav label key (meta.nav), in the routes' order.  A route that names an action in meta.can
// (see roles.js) is listed only when `can(action)` allows it.  Pure, so node tests can check it.
export function navLinks(routes, can = () => true) {
  return routes.filter((r) => r.meta && r.meta.nav && (!r.meta.can || can(r.meta.can)))
    .map((r) => ({ to: r.path, label: r.meta.nav }))
}
