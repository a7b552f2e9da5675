package dev.wisp.runtime;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;

/**
 * The runtime's entry point: {@code java -jar wisp-runtime.jar} serves the function named by
 * {@code WISP_HANDLER}; {@code --train} runs the class-data-sharing training run instead
 * ({@link Training}); {@code --pool-token} is a pool pod's init step
 * ({@link Generic#writePodToken}). With a pool token and no handler it is a warm pool pod's runtime, given its
 * function later ({@link PoolPod}).
 *
 * <p>A handler that fails to load keeps the process up: {@code /healthz} answers 503 with the
 * reason. In a pod ({@code WISP_EXIT_ON_LOAD_FAILURE=true}) the runtime exits 1 instead, with the
 * reason as the container's termination message, so the pod's status says why and the kubelet
 * tries again.
 */
public final class Main {

    /** The log line's {@code event} that tells a launcher the runtime listens. */
    static final String LISTENING_EVENT = "wisp.runtime.listening";

    /** Where the kubelet reads a container's last words (the default terminationMessagePath). */
    static final Path TERMINATION_LOG = Path.of("/dev/termination-log");

    private Main() {}

    public static void main(String[] args) throws Exception {
        // Nagle + delayed ACKs would add ~40 ms to every small keep-alive response.
        System.setProperty("sun.net.httpserver.nodelay", "true");
        if (args.length > 0 && "--train".equals(args[0])) {
            Training.run();
            return;
        }
        if (args.length > 0 && "--pool-token".equals(args[0])) {
            try {
                Generic.writePodToken(System.getenv());
            } catch (IOException | java.security.GeneralSecurityException e) {
                JsonLog.write("ERROR", null, "the pool pod's token could not be written: " + e, Map.of());
                System.exit(2);
            }
            return;
        }
        Config config;
        try {
            config = Config.fromEnvironment(System.getenv());
        } catch (IllegalArgumentException e) {
            JsonLog.write("ERROR", null, "invalid configuration: " + e.getMessage(), Map.of());
            System.exit(2);
            return;
        }
        String poolToken;
        try {
            poolToken = Generic.poolToken(System.getenv());
        } catch (IOException e) {
            JsonLog.write("ERROR", null, "invalid configuration: " + e.getMessage(), Map.of());
            System.exit(2);
            return;
        }
        Running running;
        if (!poolToken.isEmpty() && config.handler().isBlank()) {
            try {
                running = PoolPod.start(config, poolToken);
            } catch (JvmEnvironment.Unavailable e) {
                JsonLog.write("ERROR", null, "cannot serve as a pool pod: " + e.getMessage(), Map.of());
                System.exit(2);
                return;
            }
        } else {
            running = start(config);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            running.server().drain(Math.min(config.timeoutMillis(), 25_000));
            running.server().stop();
            JsonLog.info("stopped");
        }, "wisp-shutdown"));
    }

    /** {@code message} as the container's termination message, when there is a place for it. */
    private static void lastWords(String message) {
        try {
            Files.writeString(TERMINATION_LOG, message);
        } catch (IOException | RuntimeException e) {
            // Not in a pod: the log line says it too.
        }
    }

    /** A started runtime: its server and its invocations. */
    record Running(RuntimeServer server, Invocations invocations) {}

    /**
     * Loads the handler, then starts the server and announces it: one log line with
     * {@code "event": "wisp.runtime.listening"}, the bound port and whether the handler loaded.
     * Loading first makes the first {@code /healthz} answer final.
     */
    static Running start(Config config) throws IOException {
        long startNanos = System.nanoTime();
        JsonLog.setFunctionName(config.functionName());
        JsonLog.captureStandardStreams();
        Workers.Kind kind = Workers.choose(
                Runtime.version().feature(), System.getenv("WISP_JAVA_VIRTUAL_THREADS"));
        LoadedHandler handler = null;
        HandlerLoader.LoadException loadError = null;
        try {
            handler = HandlerLoader.load(config);
        } catch (HandlerLoader.LoadException e) {
            loadError = e;
            Map<String, Object> failed = new LinkedHashMap<>();
            failed.put("errorType", e.errorType());
            failed.put("handler", config.handler());
            JsonLog.error(e.getMessage(), failed);
            if ("true".equalsIgnoreCase(System.getenv().getOrDefault("WISP_EXIT_ON_LOAD_FAILURE", "").trim())) {
                lastWords("the handler '" + config.handler() + "' could not be loaded: "
                        + e.errorType() + ": " + e.getMessage());
                System.exit(1);
            }
        }
        ExecutorService handlerThreads = Workers.create(kind, config.concurrency(), "wisp-handler");
        ExecutorService httpThreads = Workers.create(kind, config.concurrency() + 16, "wisp-http");
        Invocations invocations = new Invocations(config, handlerThreads, handler, loadError);
        RuntimeServer server = new RuntimeServer(config, invocations, httpThreads);
        server.start();
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("event", LISTENING_EVENT);
        fields.put("port", server.port());
        fields.put("handlerLoaded", handler != null);
        fields.put("handler", config.handler());
        if (handler != null) {
            fields.put("input", handler.inputType().getTypeName());
        }
        fields.put("java", Runtime.version().toString());
        fields.put("threads", kind.name().toLowerCase(Locale.ROOT));
        fields.put("startMs", (System.nanoTime() - startNanos) / 1_000_000);
        JsonLog.info("listening on " + config.host() + ":" + server.port(), fields);
        return new Running(server, invocations);
    }
}
