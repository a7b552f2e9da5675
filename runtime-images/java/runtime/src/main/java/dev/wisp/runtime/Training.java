package dev.wisp.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The class-data-sharing training run ({@code java -XX:ArchiveClassesAtExit=... -jar
 * wisp-runtime.jar --train}): starts the runtime on a free loopback port with
 * {@link TrainingHandler}, makes the calls a pod sees in its first seconds (probes, JSON and HTTP
 * events, an error, metrics) and exits, so the JVM archives every class those paths loaded.
 */
final class Training {

    private Training() {}

    static void run() throws Exception {
        Path codeDir = Files.createTempDirectory("wisp-train");
        Map<String, String> env = new HashMap<>();
        env.put("WISP_FUNCTION_NAME", "training");
        env.put("WISP_HANDLER", TrainingHandler.class.getName());
        env.put("WISP_CODE_DIR", codeDir.toString());
        env.put("WISP_DEPS_DIR", codeDir.resolve("deps").toString());
        env.put("WISP_HOST", "127.0.0.1");
        env.put("WISP_PORT", "0");
        env.put("WISP_CONCURRENCY", "4");
        env.put("WISP_STACK_TRACES", "true");
        Main.Running running = Main.start(Config.fromEnvironment(env));
        String base = "http://127.0.0.1:" + running.server().port();
        try {
            for (int round = 0; round < 3; round++) {
                expect(request(base + "/healthz", "GET", null, null, null), 200);
                expect(request(base + "/livez", "GET", null, null, null), 200);
                expect(request(base + "/", "POST", "json", "application/json",
                        "{\"name\":\"cds\",\"count\":3,\"tags\":[\"a\",\"b\"]}"), 200);
                expect(request(base + "/", "POST", null, null, ""), 200);
                expect(request(base + "/orders/42?a=1&a=2&b=x", "POST", "http", "application/json",
                        "{\"item\":\"tea\"}"), 201);
                expect(request(base + "/upload", "PUT", "http", "application/octet-stream",
                        "\u0000\u0001binary"), 201);
                // What an HTTP Trigger of payload format 2.0 sends, and Lambda's client context.
                expect(request(base + "/orders/42?a=1", "GET", "http", null, null,
                        "X-Wisp-Payload-Format", "2.0", "X-Wisp-Route", "GET /orders/{id}",
                        "X-Wisp-Path-Params", "id=42", "X-Wisp-Source-Ip", "203.0.113.9",
                        "Cookie", "a=1; b=2"), 200);
                expect(request(base + "/", "POST", "json", "application/json", "{\"name\":\"ctx\"}",
                        "X-Wisp-Client-Context", "eyJjbGllbnQiOnsiYXBwX3RpdGxlIjoidCJ9fQ==",
                        "X-Wisp-Identity", "eyJjb2duaXRvSWRlbnRpdHlJZCI6ImkifQ=="), 200);
                expect(request(base + "/", "POST", "json", "application/json", "{\"fail\":true}"), 500);
                expect(request(base + "/", "POST", "json", "application/json", "{not json"), 400);
                expect(request(base + "/metrics", "GET", null, null, null), 200);
            }
        } finally {
            running.server().stop();
            Files.deleteIfExists(codeDir);
        }
        JsonLog.info("training run finished");
        System.exit(0);
    }

    private static void expect(int status, int wanted) {
        if (status != wanted) {
            throw new IllegalStateException("training call answered " + status + ", expected " + wanted);
        }
    }

    /** One call; {@code headers} are extra name, value pairs. */
    private static int request(String url, String method, String event, String type, String body,
                               String... headers) throws IOException {
        HttpURLConnection connection = (HttpURLConnection) URI.create(url).toURL().openConnection();
        connection.setRequestMethod(method);
        for (int i = 0; i + 1 < headers.length; i += 2) {
            connection.setRequestProperty(headers[i], headers[i + 1]);
        }
        if (event != null) {
            connection.setRequestProperty("X-Wisp-Event", event);
        }
        if (type != null) {
            connection.setRequestProperty("Content-Type", type);
        }
        if (body != null) {
            connection.setDoOutput(true);
            try (OutputStream out = connection.getOutputStream()) {
                out.write(body.getBytes(StandardCharsets.UTF_8));
            }
        }
        int status = connection.getResponseCode();
        try (InputStream in = status >= 400 ? connection.getErrorStream() : connection.getInputStream()) {
            if (in != null) {
                in.readAllBytes();
            }
        }
        return status;
    }
}
