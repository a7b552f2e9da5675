package dev.wisp.runtime;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import java.time.ZoneOffset;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;

/**
 * A warm pool pod's runtime ({@link Generic}): a started JVM, warmed up, listening with no
 * function until the gateway gives it one.
 *
 * <p>The JVM starts from the image's class-data-sharing archive like a function's own, then
 * warms up before it listens (so a Ready pool pod is a warm one): it compiles, loads and calls a
 * small function given as source, as a specialisation does, which loads javac's and the
 * runtime's classes and has the JIT compile their hot paths. A specialisation then costs the
 * function's own compile (on a JDK image; sources are what inline and {@code files} code are)
 * and load, in a fresh class loader.
 */
final class PoolPod {

    private static final String WARMUP_SOURCE = """
            package wisp.warmup;

            import dev.wisp.runtime.Context;
            import dev.wisp.runtime.RequestHandler;
            import java.util.Map;

            public class Warmup implements RequestHandler<Map<String, Object>, Map<String, Object>> {
                @Override
                public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
                    return Map.of("hello", String.valueOf(event.get("name")), "function", context.getFunctionName());
                }
            }
            """;

    /** How many throwaway functions javac compiles before the pod listens. */
    private static final int WARMUP_COMPILES = Integer.getInteger("wisp.warmupCompiles", 8);

    private final Config pod;
    private final Map<String, String> image;
    private final ExecutorService httpThreads;
    private final Workers.Kind kind;

    private PoolPod(Config pod, Map<String, String> image, ExecutorService httpThreads, Workers.Kind kind) {
        this.pod = pod;
        this.image = image;
        this.httpThreads = httpThreads;
        this.kind = kind;
    }

    /**
     * Takes the token out of what function code can read, warms up and listens.
     *
     * @throws JvmEnvironment.Unavailable when this JVM does not let a function's environment be
     *     set: such a pool pod could not run a function as its own pod does
     */
    static Main.Running start(Config config, String token) throws IOException, JvmEnvironment.Unavailable {
        long startNanos = System.nanoTime();
        JvmEnvironment.remove(Generic.TOKEN_ENV, Generic.TOKEN_FILE_ENV);
        JsonLog.setFunctionName(config.functionName());
        JsonLog.captureStandardStreams();
        Workers.Kind kind = Workers.choose(
                Runtime.version().feature(), System.getenv("WISP_JAVA_VIRTUAL_THREADS"));
        boolean warm = warmUp();
        ExecutorService handlerThreads = Workers.create(kind, 1, "wisp-handler");
        ExecutorService httpThreads = Workers.create(kind, config.concurrency() + 16, "wisp-http");
        PoolPod pool = new PoolPod(config, new HashMap<>(System.getenv()), httpThreads, kind);
        Invocations waiting = new Invocations(config, handlerThreads, null, new HandlerLoader.LoadException(
                "NotSpecialised", "no function yet (a pool pod)", null));
        RuntimeServer server = new RuntimeServer(config, waiting, httpThreads, token, pool::specialise);
        server.start();
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put("event", Main.LISTENING_EVENT);
        fields.put("port", server.port());
        fields.put("handlerLoaded", false);
        fields.put("generic", true);
        fields.put("warm", warm);
        fields.put("java", Runtime.version().toString());
        fields.put("threads", kind.name().toLowerCase(Locale.ROOT));
        fields.put("startMs", (System.nanoTime() - startNanos) / 1_000_000);
        JsonLog.info("listening on " + config.host() + ":" + server.port() + " with no function yet", fields);
        return new Main.Running(server, waiting);
    }

    /**
     * The function's runtime: its code written, its environment applied, its handler loaded.
     * Nothing of the JVM is changed before the request and the function's settings are known
     * to be valid.
     */
    Invocations specialise(Generic.Specialisation wanted)
            throws Generic.SpecialiseException, HandlerLoader.LoadException {
        Path codeDir;
        try {
            codeDir = Generic.writeCode(wanted.files(), codeParent());
        } catch (IOException e) {
            throw new Generic.SpecialiseException("files", "cannot be written: " + e.getMessage());
        }
        Map<String, String> function = Generic.functionEnvironment(wanted.env(), image, codeDir);
        Map<String, String> set = new LinkedHashMap<>(function);
        set.putAll(LambdaEnvironment.of(function, image, host(), LocalDate.now(ZoneOffset.UTC)));
        Map<String, String> all = new HashMap<>(image);
        all.putAll(set);
        Config config = Config.fromEnvironment(all);
        try {
            JvmEnvironment.apply(set);
        } catch (JvmEnvironment.Unavailable e) {
            throw new HandlerLoader.LoadException("EnvironmentUnavailable", e.getMessage(), e);
        }
        JsonLog.setFunctionName(config.functionName());
        LoadedHandler handler = HandlerLoader.load(config);
        Workers.resize(httpThreads, config.concurrency() + 16);
        ExecutorService handlerThreads = Workers.create(kind, config.concurrency(), "wisp-handler");
        return new Invocations(config, handlerThreads, handler, null);
    }

    /** Where function code is written: beside the dependency folder, under {@code /tmp}. */
    private Path codeParent() {
        Path parent = pod.depsDir().toAbsolutePath().getParent();
        return parent == null ? Path.of(System.getProperty("java.io.tmpdir")) : parent;
    }

    private String host() {
        String name = image.get("HOSTNAME");
        if (name != null && !name.isBlank()) {
            return name;
        }
        try {
            return Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
        } catch (IOException | RuntimeException e) {
            return "localhost";
        }
    }

    /**
     * A specialisation's path, done once on a throwaway function: compiled (where this JVM has a
     * compiler), loaded in its own class loader, called. Returns whether it ran; a pool pod that
     * could not warm up still serves, only its first specialisation is slower.
     */
    private static boolean warmUp() {
        boolean sources = javax.tools.ToolProvider.getSystemJavaCompiler() != null;
        try {
            // javac's first compile loads it; the next ones have the JIT compile its hot paths.
            for (int round = 0; round < (sources ? WARMUP_COMPILES : 1); round++) {
                warmUpOnce(sources, round);
            }
            return true;
        } catch (HandlerLoader.LoadException | IOException | RuntimeException e) {
            JsonLog.error("the pool pod's warm-up failed: " + e, Map.of());
            return false;
        }
    }

    /** One throwaway function: compiled (from sources unique to {@code round}), loaded, called. */
    private static void warmUpOnce(boolean sources, int round) throws HandlerLoader.LoadException, IOException {
        Path dir = Files.createTempDirectory("wisp-warmup-");
        try {
            String handler = sources ? "wisp.warmup.Warmup" + round : TrainingHandler.class.getName();
            if (sources) {
                Files.writeString(dir.resolve("Handler.java"),
                        WARMUP_SOURCE.replace("class Warmup ", "class Warmup" + round + " "));
            }
            Map<String, String> env = new HashMap<>();
            env.put("WISP_FUNCTION_NAME", "warmup");
            env.put("WISP_HANDLER", handler);
            env.put("WISP_CODE_DIR", dir.toString());
            env.put("WISP_DEPS_DIR", dir.resolve("deps").toString());
            env.put("WISP_CONCURRENCY", "1");
            Config config = Config.fromEnvironment(env);
            LoadedHandler loaded = HandlerLoader.load(config);
            ExecutorService threads = Workers.create(Workers.Kind.PLATFORM_POOL, 1, "wisp-warmup");
            try {
                Invocations invocations = new Invocations(config, threads, loaded, null);
                byte[] event = "{\"name\":\"warm\"}".getBytes(java.nio.charset.StandardCharsets.UTF_8);
                invocations.invoke(new Call("POST", "/", null,
                        Map.of("Content-Type", List.of("application/json")),
                        limit -> event, "warmup-" + round, "127.0.0.1", "HTTP/1.1"));
            } finally {
                threads.shutdownNow();
            }
        } finally {
            deleteQuietly(dir);
        }
    }

    private static void deleteQuietly(Path dir) {
        try (var walk = Files.walk(dir)) {
            walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | RuntimeException e) {
            // A temporary folder: left for the pod's end.
        }
    }
}
