package dev.wisp.runtime;

/**
 * A wisp function written in Java, shaped like AWS Lambda's {@code RequestHandler}.
 *
 * <p>The runtime creates one instance when the pod starts (so the constructor and static
 * initialisers are the place for clients and caches) and calls {@link #handleRequest} for every
 * invocation, from several threads at once when the Function's concurrency allows it.
 *
 * <p>{@code I} may be {@code Map<String, Object>}, {@code String}, or any class Gson can build
 * from the event's JSON (a POJO or a record). {@code O} is serialised to JSON, unless it has the
 * shape {@code {statusCode, headers, body, isBase64Encoded}}, which shapes the HTTP response.
 *
 * @param <I> the event type
 * @param <O> the result type
 */
@FunctionalInterface
public interface RequestHandler<I, O> {

    /**
     * Handles one invocation.
     *
     * @param input the event
     * @param context the invocation's request id, deadline, function name and logger
     * @return the result; {@code null} becomes a JSON {@code null}
     * @throws Exception any exception becomes a 500 with {@code errorType} and {@code errorMessage}
     */
    O handleRequest(I input, Context context) throws Exception;
}
