package dev.wisp.runtime;

import java.io.IOException;
import java.util.List;
import java.util.Map;

/**
 * One invocation request as the HTTP layer sees it, before any contract rule is applied.
 *
 * @param method the HTTP method
 * @param path the decoded request path
 * @param rawQuery the undecoded query string, or null
 * @param headers request headers (names in any case) with all their values
 * @param body reads the body once admitted (so a throttled call is answered without reading it)
 * @param requestId the {@code X-Wisp-Request-Id} given or made
 * @param peer the address of the connection's other end (the gateway, or a local caller)
 * @param protocol the request's protocol, {@code HTTP/1.1}
 */
record Call(String method, String path, String rawQuery, Map<String, List<String>> headers,
            Body body, String requestId, String peer, String protocol) {

    /** Reads a request body up to a limit. */
    @FunctionalInterface
    interface Body {
        /** The body, or null when it is longer than {@code limit} bytes. */
        byte[] read(long limit) throws IOException;
    }

    /** The last value of header {@code name} (any case), or null. */
    String header(String name) {
        for (Map.Entry<String, List<String>> entry : headers.entrySet()) {
            if (entry.getKey().equalsIgnoreCase(name) && !entry.getValue().isEmpty()) {
                List<String> values = entry.getValue();
                return values.get(values.size() - 1);
            }
        }
        return null;
    }
}
