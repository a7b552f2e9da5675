package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;

// Not from a sample: a generic base class, so the input type (I of RequestHandler<I, O>) is
// bound by a subclass (OrderHandler), as frameworks built on RequestHandler do.
public abstract class JsonHandler<T> implements RequestHandler<T, String> {
    @Override
    public String handleRequest(T input, Context context) {
        return describe(input);
    }

    protected abstract String describe(T input);
}
