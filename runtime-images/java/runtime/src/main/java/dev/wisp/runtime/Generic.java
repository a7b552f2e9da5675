package dev.wisp.runtime;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Generic mode: a warm pool pod's runtime, started with no function, waiting to be given one
 * (docs/warm-pool.md; the Python runtime's {@code wisp_runtime/generic.py} is the same contract).
 *
 * <p>With a pool token and no {@code WISP_HANDLER} the JVM starts, warms up ({@link Warmup}) and
 * listens: {@code /healthz} says ok and calls get 503 {@code NotSpecialised}. {@code POST
 * /_wisp/specialise} with {@code Authorization: Bearer <token>} and
 * {@code {"env": {...}, "files": {...}}} gives it its function: the files are written to a fresh
 * directory under {@code /tmp}, the environment applied ({@link JvmEnvironment}), and the handler
 * loaded in a fresh class loader. Once in a life: a second request gets 409, whatever became of
 * the first, unless it is the same request again (byte for byte: two gateway replicas handing the
 * pod the same function in one burst), which gets the first's answer. The token is the pod's own: in the file {@code WISP_POOL_TOKEN_FILE} names (the
 * pod's init step derives it from the pool's key and the pod's uid), or, outside a pod, in
 * {@code WISP_POOL_TOKEN}. This class is the pure part.
 */
final class Generic {

    static final String SPECIALISE_PATH = "/_wisp/specialise";
    static final String TOKEN_ENV = "WISP_POOL_TOKEN";
    static final String TOKEN_FILE_ENV = "WISP_POOL_TOKEN_FILE";
    /** Where the runtime listens is the pod's; the code directory is the one the runtime writes. */
    private static final Set<String> KEPT = Set.of(
            "WISP_HOST", "WISP_PORT", "WISP_CODE_DIR", "WISP_DEPS_DIR", TOKEN_ENV, TOKEN_FILE_ENV);
    /** The image's settings a function keeps unless it sets them itself, as in its own pod. */
    private static final List<String> IMAGE_DEFAULTS = List.of("WISP_AWS_SDK_DIR", "WISP_LAYERS_DIR");

    /** What a pool pod's token is an HMAC of, before its uid (the gateway's poolplan.pod_token). */
    private static final String POD_TOKEN_PREFIX = "wisp-pool-pod:";

    private Generic() {}

    /**
     * A pool pod's init step ({@code --pool-token}): writes the pod's token, HMAC-SHA256 of its
     * uid ({@code WISP_POD_UID}) under the pool's key ({@code WISP_POOL_KEY}), in hex, to the
     * file {@code WISP_POOL_TOKEN_FILE} names, readable by the pod's user only. The runtime
     * reads that file and never sees the key.
     */
    static void writePodToken(Map<String, String> env) throws IOException, GeneralSecurityException {
        String key = required(env, "WISP_POOL_KEY");
        String uid = required(env, "WISP_POD_UID");
        Path file = Path.of(required(env, TOKEN_FILE_ENV));
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
        String token = HexFormat.of().formatHex(mac.doFinal((POD_TOKEN_PREFIX + uid).getBytes(StandardCharsets.UTF_8)));
        Files.deleteIfExists(file);
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(file, token, StandardCharsets.UTF_8);
    }

    private static String required(Map<String, String> env, String name) throws IOException {
        String value = env.get(name);
        if (value == null || value.isEmpty()) {
            throw new IOException(name + " is not set");
        }
        return value;
    }

    /** What a specialisation asks for: the function's environment and its code files. */
    record Specialisation(Map<String, String> env, Map<String, String> files) {}

    /** A specialisation request the runtime cannot use; the message starts with the field. */
    static final class SpecialiseException extends Exception {
        SpecialiseException(String field, String message) {
            super(field + ": " + message);
        }
    }

    /** The pool token ("" for none) from {@code env}; reads the token file it names. */
    static String poolToken(Map<String, String> env) throws IOException {
        String token = env.getOrDefault(TOKEN_ENV, "");
        String file = env.getOrDefault(TOKEN_FILE_ENV, "");
        if (!file.isEmpty() && token.isEmpty()) {
            token = Files.readString(Path.of(file), StandardCharsets.UTF_8).strip();
            if (token.isEmpty()) {
                throw new IOException("the pool token file " + file + " is empty");
            }
        }
        return token;
    }

    static Specialisation parse(byte[] body) throws SpecialiseException {
        if (body == null || body.length == 0) {
            throw new SpecialiseException("body", "must be a JSON object with env and files");
        }
        JsonElement data;
        try {
            data = JsonParser.parseString(new String(body, StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            throw new SpecialiseException("body", "is not JSON: " + e.getMessage());
        }
        if (!data.isJsonObject()) {
            throw new SpecialiseException("body", "must be a JSON object");
        }
        JsonObject object = data.getAsJsonObject();
        Map<String, String> env = strings(object.get("env"));
        if (env == null) {
            throw new SpecialiseException("env", "must be an object of string values");
        }
        if (env.getOrDefault("WISP_HANDLER", "").isBlank()) {
            throw new SpecialiseException("env.WISP_HANDLER", "is required");
        }
        JsonElement filesGiven = object.get("files");
        if (filesGiven == null || !filesGiven.isJsonObject() || filesGiven.getAsJsonObject().size() == 0) {
            throw new SpecialiseException("files", "must be an object of file name to content, not empty");
        }
        Map<String, String> files = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> file : filesGiven.getAsJsonObject().entrySet()) {
            String name = file.getKey();
            if (!plainName(name)) {
                throw new SpecialiseException("files[" + name + "]", "must be a plain file name");
            }
            JsonElement content = file.getValue();
            if (!content.isJsonPrimitive() || !content.getAsJsonPrimitive().isString()) {
                throw new SpecialiseException("files[" + name + "]", "must be a string");
            }
            files.put(name, content.getAsString());
        }
        return new Specialisation(env, files);
    }

    /** The object's members when every value is a string, else null. */
    private static Map<String, String> strings(JsonElement given) {
        if (given == null || !given.isJsonObject()) {
            return null;
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> member : given.getAsJsonObject().entrySet()) {
            JsonElement value = member.getValue();
            if (!value.isJsonPrimitive() || !value.getAsJsonPrimitive().isString()) {
                return null;
            }
            out.put(member.getKey(), value.getAsString());
        }
        return out;
    }

    static boolean plainName(String name) {
        return !name.isEmpty() && !".".equals(name) && !"..".equals(name)
                && name.chars().noneMatch(c -> c == '/' || c == '\\' || c == 0);
    }

    /** Writes {@code files} to a new directory under {@code parent}; returns the directory. */
    static Path writeCode(Map<String, String> files, Path parent) throws IOException {
        Files.createDirectories(parent);
        Path dir = Files.createTempDirectory(parent, "wisp-code-");
        for (Map.Entry<String, String> file : files.entrySet()) {
            Files.writeString(dir.resolve(file.getKey()), file.getValue(), StandardCharsets.UTF_8);
        }
        return dir;
    }

    /**
     * The function's own variables: the requested ones, less what stays the pod's, with the
     * pod's listening address and dependency folder, the image's defaults and the new code dir.
     */
    static Map<String, String> functionEnvironment(
            Map<String, String> requested, Map<String, String> current, Path codeDir) {
        Map<String, String> env = new LinkedHashMap<>();
        requested.forEach((name, value) -> {
            if (!KEPT.contains(name)) {
                env.put(name, value);
            }
        });
        for (String name : List.of("WISP_HOST", "WISP_PORT", "WISP_DEPS_DIR")) {
            if (current.containsKey(name)) {
                env.put(name, current.get(name));
            }
        }
        for (String name : IMAGE_DEFAULTS) {
            if (current.containsKey(name) && !env.containsKey(name)) {
                env.put(name, current.get(name));
            }
        }
        env.put("WISP_CODE_DIR", codeDir.toString());
        return env;
    }
}
