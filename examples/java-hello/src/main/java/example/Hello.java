package example;

import dev.wisp.runtime.Context;
import dev.wisp.runtime.RequestHandler;

/**
 * Says hello. Called with {@code {"name": "ada"}} it answers
 * {@code {"greeting": "hello, ada", "requestId": "..."}}; the runtime maps the JSON event to
 * {@link Request} and the {@link Greeting} back to JSON.
 */
public class Hello implements RequestHandler<Hello.Request, Hello.Greeting> {

    /** The event. */
    public record Request(String name) {}

    /** The answer. */
    public record Greeting(String greeting, String requestId) {}

    @Override
    public Greeting handleRequest(Request request, Context context) {
        String name = request == null || request.name() == null || request.name().isBlank()
                ? "world" : request.name();
        context.getLogger().info("greeting " + name);
        return new Greeting("hello, " + name, context.getAwsRequestId());
    }
}
