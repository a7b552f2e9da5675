package dev.wisp.runtime;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.InstanceCreator;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.Strictness;
import com.google.gson.ToNumberPolicy;
import com.google.gson.TypeAdapter;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.gson.stream.MalformedJsonException;
import java.io.IOException;
import java.io.StringReader;
import java.lang.reflect.Type;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The one JSON mapper: events in, results out.
 *
 * <p>Gson rather than Jackson because start-up cost is this runtime's main number: Gson is one
 * ~300 KB jar with no dependencies and loads a few hundred fewer classes on the first call than
 * jackson-databind (see docs/runtimes-java.md for the measurement). Numbers in untyped values
 * ({@code Map<String, Object>}) become {@code Long} when integral and {@code Double} otherwise,
 * as a Lambda user would expect, rather than Gson's default of always {@code Double}. The
 * event classes of aws-lambda-java-events bind as AWS's own serializer binds them ({@link AwsEvents}).
 */
final class Json {

    static final Gson GSON = new GsonBuilder()
            .serializeNulls()
            .disableHtmlEscaping()
            .setObjectToNumberStrategy(ToNumberPolicy.LONG_OR_DOUBLE)
            .registerTypeAdapterFactory(new AwsEvents())
            // A handler's Map input is a java.util.LinkedHashMap (as on Lambda), not Gson's own.
            .registerTypeAdapter(Map.class, (InstanceCreator<Map<?, ?>>) type -> new LinkedHashMap<>())
            .create();

    private static final TypeAdapter<JsonElement> ELEMENTS = GSON.getAdapter(JsonElement.class);

    private Json() {}

    /**
     * Parses {@code text} strictly (RFC 8259, one value, nothing after it); an empty text is the
     * empty object, as the contract says.
     *
     * @throws IOException when {@code text} is not one JSON value
     */
    static JsonElement parse(String text) throws IOException {
        if (text.isBlank()) {
            return new JsonObject();
        }
        JsonReader reader = new JsonReader(new StringReader(text));
        reader.setStrictness(Strictness.STRICT);
        try {
            JsonElement value = ELEMENTS.read(reader);
            if (reader.peek() != JsonToken.END_DOCUMENT) {
                throw new MalformedJsonException("unexpected data after the JSON value");
            }
            return value;
        } catch (IllegalStateException | JsonParseException e) {
            throw new MalformedJsonException(readable(e.getMessage()));
        } catch (MalformedJsonException e) {
            throw new MalformedJsonException(readable(e.getMessage()));
        }
    }

    /** Gson's parse error without its advice to parse leniently and its troubleshooting link. */
    private static String readable(String message) {
        if (message == null) {
            return "malformed JSON";
        }
        String line = message.lines().findFirst().orElse(message);
        int at = line.indexOf("malformed JSON");
        return at > 0 ? line.substring(at) : line;
    }

    static Object convert(JsonElement tree, Type type) {
        return GSON.fromJson(tree, type);
    }

    static JsonElement toTree(Object value) {
        return GSON.toJsonTree(value);
    }

    static String toJson(Object value) {
        return GSON.toJson(value);
    }
}
