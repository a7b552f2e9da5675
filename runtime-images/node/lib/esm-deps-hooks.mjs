// Module resolution hooks for ES module handlers: NODE_PATH covers CommonJS only, so a bare
// import the default resolution cannot find is looked up again from each folder the runtime
// searches (installed dependencies, layers, the AWS SDK), in order.
let parentURLs = [];

export async function initialize(data) {
  parentURLs = data.parentURLs;
}

function isBare(specifier) {
  return !/^(\.{0,2}\/|[a-z][a-z0-9+.-]*:)/i.test(specifier);
}

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (!err || err.code !== 'ERR_MODULE_NOT_FOUND' || !isBare(specifier)) throw err;
    for (const parentURL of parentURLs) {
      try {
        return await nextResolve(specifier, { ...context, parentURL });
      } catch (again) {
        if (!again || again.code !== 'ERR_MODULE_NOT_FOUND') throw again;
      }
    }
    throw err;
  }
}
