package dev.wisp.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;

/**
 * Makes AWS Lambda's {@code Context} for handlers written against aws-lambda-java-core.
 *
 * <p>The runtime does not carry aws-lambda-java-core; the function's jar does, as on Lambda. The
 * adapters of {@code dev.wisp.runtime.aws} (compiled against that library, shipped in the
 * runtime jar as class files) are defined here, in a loader whose parent is the function's, so
 * AWS's interfaces resolve to the function's own copy. Nothing of this is loaded for a handler
 * that does not take AWS's {@code Context}.
 */
final class AwsBridge {

    /** AWS's context interface, as a handler's parameter type names it. */
    static final String CONTEXT = "com.amazonaws.services.lambda.runtime.Context";

    private static final String ADAPTERS = "dev.wisp.runtime.aws.";

    private final Constructor<?> contextAdapter;

    private AwsBridge(Constructor<?> contextAdapter) {
        this.contextAdapter = contextAdapter;
    }

    /** Whether {@code type} is AWS's Context (of whichever aws-lambda-java-core the function has). */
    static boolean isAwsContext(Class<?> type) {
        return type.getName().equals(CONTEXT);
    }

    /** The bridge for a function whose classes {@code functionLoader} loads. */
    static AwsBridge forFunction(ClassLoader functionLoader) throws ReflectiveOperationException {
        ClassLoader adapters = new AdapterLoader(functionLoader);
        Class<?> context = Class.forName(ADAPTERS + "AwsContext", true, adapters);
        return new AwsBridge(context.getConstructor(Context.class));
    }

    /** AWS's Context for this call, a copy of {@code context}. */
    Object context(Context context) {
        try {
            return contextAdapter.newInstance(context);
        } catch (InvocationTargetException e) {
            throw new IllegalStateException("making the AWS context failed: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("making the AWS context failed: " + e, e);
        }
    }

    /**
     * Defines the adapter classes itself (from the runtime jar's class files) and asks the
     * function's loader for everything else: AWS's interfaces, wisp's API and the JDK.
     */
    private static final class AdapterLoader extends ClassLoader {

        AdapterLoader(ClassLoader functionLoader) {
            super("wisp-aws-adapters", functionLoader);
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (!name.startsWith(ADAPTERS)) {
                return super.loadClass(name, resolve);
            }
            synchronized (getClassLoadingLock(name)) {
                Class<?> loaded = findLoadedClass(name);
                if (loaded == null) {
                    loaded = define(name);
                }
                if (resolve) {
                    resolveClass(loaded);
                }
                return loaded;
            }
        }

        private Class<?> define(String name) throws ClassNotFoundException {
            String resource = name.replace('.', '/') + ".class";
            try (InputStream in = AwsBridge.class.getClassLoader().getResourceAsStream(resource)) {
                if (in == null) {
                    throw new ClassNotFoundException(name);
                }
                byte[] bytes = in.readAllBytes();
                return defineClass(name, bytes, 0, bytes.length);
            } catch (IOException e) {
                throw new ClassNotFoundException(name, e);
            }
        }
    }
}
