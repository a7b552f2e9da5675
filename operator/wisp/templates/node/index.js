// The {{name}} function: `event` is the call's JSON body, the resolved value is the answer.
exports.handler = async (event, context) => {
  const name = (event && event.name) || 'world';
  context.log(`hello ${name}`);
  return { hello: name };
};
