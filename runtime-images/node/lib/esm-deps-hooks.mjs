// Module resolution hooks for ES module handlers: NODE_PATH covers CommonJS only, so a bare
// import the default resolution cannot find is looked up again from WISP_DEPS_DIR.
let depsParentURL;

export async function initialize(data) {
  depsParentURL = data.parentURL;
}

function isBare(specifier) {
  return !/^(\.{0,2}\/|[a-z][a-z0-9+.-]*:)/i.test(specifier);
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (!err || err.code !== 'ERR_MODULE_NOT_FOUND' || !isBare(specifier)) throw err;
    return nextResolve(specifier, { ...context, parentURL: depsParentURL });
  }
}
