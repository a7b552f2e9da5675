package dev.wisp.runtime;

import com.google.gson.Gson;
import com.google.gson.JsonParseException;
import com.google.gson.TypeAdapter;
import com.google.gson.TypeAdapterFactory;
import com.google.gson.reflect.TypeToken;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.gson.stream.JsonWriter;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Binds the event classes of {@code aws-lambda-java-events} (from the function's own jar) to and
 * from JSON as AWS's serializer (aws-lambda-java-serialization) does, so handlers of
 * {@code SQSEvent}, {@code APIGatewayProxyRequestEvent}, {@code ScheduledEvent}, ... work
 * unchanged.
 *
 * <p>AWS binds these Lombok classes by their fields, with mixins for the JSON names that are not
 * the field's ({@code Records}, {@code eventSourceARN}, {@code detail-type}, SNS's PascalCase).
 * Rather than a table of every mixin, a JSON key here matches the field whose name is the same
 * ignoring case and punctuation, which covers them all when reading; when writing, a field gets
 * the JSON name AWS's mixins give it (the common ones, {@link #JSON_NAMES}) or its own. As in
 * AWS's serializer, null fields are left out of the JSON, Joda {@code DateTime}s are ISO-8601
 * strings (UTC), {@code java.util.Date}s are epoch seconds and {@code ByteBuffer}s base64.
 *
 * <p>Everything is found by class name: the runtime has no compile-time dependency on AWS's
 * libraries, and a function that does not use them loads none of this beyond a name check.
 */
final class AwsEvents implements TypeAdapterFactory {

    static final String EVENTS_PACKAGE = "com.amazonaws.services.lambda.runtime.events.";
    private static final String JODA_DATE_TIME = "org.joda.time.DateTime";

    /** The JSON names AWS's mixins give fields (class simple name + "." + field → JSON). */
    private static final Map<String, String> JSON_NAMES = Map.ofEntries(
            Map.entry("SQSEvent.records", "Records"),
            Map.entry("SQSMessage.eventSourceArn", "eventSourceARN"),
            Map.entry("SNSEvent.records", "Records"),
            Map.entry("SNSRecord.sns", "Sns"),
            Map.entry("SNSRecord.eventSource", "EventSource"),
            Map.entry("SNSRecord.eventSubscriptionArn", "EventSubscriptionArn"),
            Map.entry("SNSRecord.eventVersion", "EventVersion"),
            Map.entry("S3Event.records", "Records"),
            Map.entry("KinesisEvent.records", "Records"),
            Map.entry("KinesisEventRecord.eventSourceArn", "eventSourceARN"),
            Map.entry("DynamodbEvent.records", "Records"),
            Map.entry("DynamodbStreamRecord.eventSourceArn", "eventSourceARN"),
            Map.entry("CodeCommitEvent.records", "Records"),
            Map.entry("ScheduledEvent.detailType", "detail-type"));

    /** SNS's message (SNSEvent.SNS) is PascalCase in JSON, as AWS's naming strategy makes it. */
    private static final String SNS_MESSAGE = EVENTS_PACKAGE + "SNSEvent$SNS";

    private static final DateTimeFormatter ISO_UTC =
            DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", Locale.ROOT).withZone(ZoneOffset.UTC);

    @Override
    @SuppressWarnings("unchecked")
    public <T> TypeAdapter<T> create(Gson gson, TypeToken<T> type) {
        Class<? super T> raw = type.getRawType();
        String name = raw.getName();
        if (name.equals(JODA_DATE_TIME)) {
            return (TypeAdapter<T>) new JodaDateTime(raw).nullSafe();
        }
        if (ByteBuffer.class.isAssignableFrom(raw)) {
            return (TypeAdapter<T>) BASE64.nullSafe();
        }
        if (raw.isEnum() || raw.isInterface() || raw.isArray() || raw.isPrimitive()
                || Modifier.isAbstract(raw.getModifiers()) || !isEventsClass(raw)) {
            return null;
        }
        return new EventAdapter<>(gson, type);
    }

    /** An events class, or a class of the function's own that extends one. */
    private static boolean isEventsClass(Class<?> cls) {
        for (Class<?> c = cls; c != null && c != Object.class; c = c.getSuperclass()) {
            if (c.getName().startsWith(EVENTS_PACKAGE)) {
                return true;
            }
        }
        return false;
    }

    /** Lower case, letters and digits only: {@code detail-type}, {@code DetailType} → {@code detailtype}. */
    static String normalise(String key) {
        StringBuilder out = new StringBuilder(key.length());
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (Character.isLetterOrDigit(c)) {
                out.append(Character.toLowerCase(c));
            }
        }
        return out.toString();
    }

    /** One field of an event class: where it is, its JSON name and how its value is read. */
    private record Binding(Field field, String jsonName, TypeAdapter<Object> adapter) {}

    /** An event class, bound field by field (its superclasses' fields included). */
    private static final class EventAdapter<T> extends TypeAdapter<T> {
        private final Class<? super T> raw;
        private final Constructor<? super T> constructor;
        private final List<Binding> bindings = new ArrayList<>();
        private final Map<String, Binding> byKey = new HashMap<>();

        @SuppressWarnings("unchecked")
        EventAdapter(Gson gson, TypeToken<T> type) {
            this.raw = type.getRawType();
            Constructor<? super T> noArgs;
            try {
                noArgs = (Constructor<? super T>) raw.getDeclaredConstructor();
                noArgs.setAccessible(true);
            } catch (NoSuchMethodException | RuntimeException e) {
                noArgs = null;
            }
            this.constructor = noArgs;
            boolean pascal = raw.getName().equals(SNS_MESSAGE);
            // Up to the JDK's classes: their fields are not the event's (nor open to reflection).
            for (Class<?> c = raw; c != null && !c.getName().startsWith("java."); c = c.getSuperclass()) {
                for (Field field : c.getDeclaredFields()) {
                    int modifiers = field.getModifiers();
                    if (Modifier.isStatic(modifiers) || Modifier.isTransient(modifiers) || field.isSynthetic()) {
                        continue;
                    }
                    field.setAccessible(true);
                    Binding binding = new Binding(field, jsonName(c, field, pascal), adapter(gson, field));
                    bindings.add(binding);
                    byKey.putIfAbsent(normalise(field.getName()), binding);
                }
            }
            // Second names, where no field has them: Lombok's boolean isX is "x" to Jackson;
            // DynamoDB's nULLValue is "NULL" in JSON.
            for (Binding binding : bindings) {
                String name = binding.field().getName();
                if (name.startsWith("is") && name.length() > 2) {
                    byKey.putIfAbsent(normalise(name.substring(2)), binding);
                }
                if (name.endsWith("Value") && name.length() > 5) {
                    byKey.putIfAbsent(normalise(name.substring(0, name.length() - 5)), binding);
                }
            }
        }

        private static String jsonName(Class<?> owner, Field field, boolean pascal) {
            String name = field.getName();
            String mixin = JSON_NAMES.get(owner.getSimpleName() + "." + name);
            if (mixin != null) {
                return mixin;
            }
            return pascal ? Character.toUpperCase(name.charAt(0)) + name.substring(1) : name;
        }

        @SuppressWarnings("unchecked")
        private static TypeAdapter<Object> adapter(Gson gson, Field field) {
            if (field.getType() == Date.class) {
                return (TypeAdapter<Object>) (TypeAdapter<?>) EPOCH_SECONDS;
            }
            Type generic = field.getGenericType();
            Type type = concrete(generic) ? generic : field.getType();
            return (TypeAdapter<Object>) gson.getAdapter(TypeToken.get(type));
        }

        /** No type variables or wildcards in it (the event classes' fields have none). */
        private static boolean concrete(Type type) {
            if (type instanceof Class<?>) {
                return true;
            }
            if (type instanceof ParameterizedType parameterized) {
                for (Type argument : parameterized.getActualTypeArguments()) {
                    if (!concrete(argument)) {
                        return false;
                    }
                }
                return true;
            }
            return false;
        }

        @Override
        @SuppressWarnings("unchecked")
        public T read(JsonReader in) throws IOException {
            if (in.peek() == JsonToken.NULL) {
                in.nextNull();
                return null;
            }
            T value;
            try {
                value = (T) (constructor != null ? constructor.newInstance() : Allocation.instance(raw));
            } catch (ReflectiveOperationException e) {
                throw new JsonParseException("cannot create " + raw.getName() + ": " + e, e);
            }
            in.beginObject();
            while (in.hasNext()) {
                Binding binding = byKey.get(normalise(in.nextName()));
                if (binding == null) {
                    in.skipValue();
                    continue;
                }
                Object fieldValue = binding.adapter().read(in);
                if (fieldValue == null && binding.field().getType().isPrimitive()) {
                    continue;
                }
                try {
                    binding.field().set(value, fieldValue);
                } catch (IllegalAccessException e) {
                    throw new JsonParseException("cannot set " + binding.field() + ": " + e, e);
                }
            }
            in.endObject();
            return value;
        }

        @Override
        public void write(JsonWriter out, T value) throws IOException {
            if (value == null) {
                out.nullValue();
                return;
            }
            out.beginObject();
            for (Binding binding : bindings) {
                Object fieldValue;
                try {
                    fieldValue = binding.field().get(value);
                } catch (IllegalAccessException e) {
                    throw new JsonParseException("cannot read " + binding.field() + ": " + e, e);
                }
                if (fieldValue == null) {
                    continue;  // AWS's serializer leaves nulls out (Include.NON_NULL)
                }
                out.name(binding.jsonName());
                binding.adapter().write(out, fieldValue);
            }
            out.endObject();
        }
    }

    /**
     * Instances of the few events classes without a constructor of no parameters (S3's, whose
     * fields are final and set by an all-arguments constructor): allocated without one, as
     * Gson does for such classes, then filled field by field.
     */
    private static final class Allocation {
        private static final Object UNSAFE;
        private static final Method ALLOCATE;

        static {
            try {
                Class<?> unsafe = Class.forName("sun.misc.Unsafe");
                Field field = unsafe.getDeclaredField("theUnsafe");
                field.setAccessible(true);
                UNSAFE = field.get(null);
                ALLOCATE = unsafe.getMethod("allocateInstance", Class.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        static Object instance(Class<?> cls) throws ReflectiveOperationException {
            return ALLOCATE.invoke(UNSAFE, cls);
        }
    }

    /** Joda's DateTime (the function's copy, found by name): ISO-8601 in, ISO-8601 UTC out. */
    private static final class JodaDateTime extends TypeAdapter<Object> {
        private final Method parse;
        private final Method millis;

        JodaDateTime(Class<?> dateTime) {
            try {
                this.parse = dateTime.getMethod("parse", String.class);
                this.millis = dateTime.getMethod("getMillis");
            } catch (NoSuchMethodException e) {
                throw new IllegalStateException("unexpected " + JODA_DATE_TIME + ": " + e, e);
            }
        }

        @Override
        public Object read(JsonReader in) throws IOException {
            String text = in.nextString();
            try {
                return parse.invoke(null, text);
            } catch (ReflectiveOperationException e) {
                Throwable cause = e.getCause() == null ? e : e.getCause();
                throw new JsonParseException("not an ISO-8601 time: " + text + " (" + cause.getMessage() + ")", cause);
            }
        }

        @Override
        public void write(JsonWriter out, Object value) throws IOException {
            try {
                out.value(ISO_UTC.format(Instant.ofEpochMilli((Long) millis.invoke(value))));
            } catch (ReflectiveOperationException e) {
                throw new JsonParseException("cannot format " + value + ": " + e, e);
            }
        }
    }

    /** Binary data (Kinesis records, SQS binary attributes) as base64 text. */
    private static final TypeAdapter<ByteBuffer> BASE64 = new TypeAdapter<>() {
        @Override
        public ByteBuffer read(JsonReader in) throws IOException {
            try {
                return ByteBuffer.wrap(Base64.getDecoder().decode(in.nextString()));
            } catch (IllegalArgumentException e) {
                throw new JsonParseException("not base64: " + e.getMessage(), e);
            }
        }

        @Override
        public void write(JsonWriter out, ByteBuffer value) throws IOException {
            ByteBuffer copy = value.duplicate();
            byte[] bytes = new byte[copy.remaining()];
            copy.get(bytes);
            out.value(Base64.getEncoder().encodeToString(bytes));
        }
    };

    /** AWS events' dates (Kinesis, DynamoDB): fractional epoch seconds, 0 meaning none. */
    private static final TypeAdapter<Date> EPOCH_SECONDS = new TypeAdapter<Date>() {
        @Override
        public Date read(JsonReader in) throws IOException {
            if (in.peek() == JsonToken.NULL) {
                in.nextNull();
                return null;
            }
            double seconds = in.nextDouble();
            return seconds == 0.0 ? null : new Date((long) (seconds * 1000.0));
        }

        @Override
        public void write(JsonWriter out, Date value) throws IOException {
            if (value == null) {
                out.nullValue();
            } else {
                out.value(value.getTime() / 1000.0);
            }
        }
    };
}
