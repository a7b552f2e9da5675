package handlers;

import dev.wisp.runtime.Context;
import dev.wisp.runtime.RequestHandler;
import java.util.Map;

/** The Lambda-style handler class: {@code handlers.EchoHandler}. */
public class EchoHandler implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    @Override
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        return event;
    }
}
