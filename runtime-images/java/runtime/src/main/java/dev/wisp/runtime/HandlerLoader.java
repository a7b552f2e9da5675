package dev.wisp.runtime;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Finds and instantiates the handler named by {@code WISP_HANDLER} in the code directory.
 *
 * <p>The class path is, in order: {@code classes/}, the code directory itself, its jars and
 * {@code lib/*.jar}, then the jars of the dependency directory, then the layers' (Lambda's
 * {@code /opt/java/lib}). The class is initialised and
 * instantiated once here (as Lambda does at init), so a failing static initialiser or
 * constructor is a load error reported by {@code /healthz}, not a failure of the first call.
 */
final class HandlerLoader {

    private static final String DEFAULT_METHOD = "handleRequest";
    private static final Pattern HANDLER = Pattern.compile(
            "[A-Za-z_$][\\w$]*(\\.[A-Za-z_$][\\w$]*)*(::[A-Za-z_$][\\w$]*)?");

    /** Why the handler could not be loaded, with the type and message /healthz reports. */
    static final class LoadException extends Exception {
        private final String errorType;

        LoadException(String errorType, String message, Throwable cause) {
            super(message, cause);
            this.errorType = errorType;
        }

        String errorType() {
            return errorType;
        }
    }

    private HandlerLoader() {}

    static LoadedHandler load(Config config) throws LoadException {
        String spec = config.handler().trim();
        if (spec.isEmpty()) {
            throw new LoadException("HandlerNotConfigured", "WISP_HANDLER is not set", null);
        }
        if (!HANDLER.matcher(spec).matches()) {
            throw new LoadException("InvalidHandler",
                    "WISP_HANDLER must be package.Class or package.Class::method, got " + spec, null);
        }
        int separator = spec.indexOf("::");
        String className = separator < 0 ? spec : spec.substring(0, separator);
        String methodName = separator < 0 ? null : spec.substring(separator + 2);

        List<URL> classPath = classPath(config.codeDir(), config.depsDir());
        addLayerJars(classPath);
        compileSourcesOnly(config, classPath);
        URLClassLoader loader = new URLClassLoader(
                "wisp-function", classPath.toArray(URL[]::new), Main.class.getClassLoader());
        Class<?> cls = loadClass(className, loader, config.codeDir(), classPath.size());
        try {
            Method method = findMethod(cls, methodName, spec);
            LoadedHandler.Signature signature = signature(method);
            AwsBridge aws = signature.context() == LoadedHandler.ContextKind.AWS ? awsBridge(loader) : null;
            Object target = Modifier.isStatic(method.getModifiers()) ? null : instantiate(cls);
            Type input = signature.streams() ? InputStream.class : inputType(cls, method);
            return new LoadedHandler(spec, loader, target, method, input, signature, aws);
        } catch (LinkageError e) {
            // Typically a class the handler refers to is missing from the code directory.
            throw new LoadException(e.getClass().getSimpleName(),
                    "linking " + className + " failed: " + e.getMessage(), e);
        }
    }

    /** The function's class path: classes/, the code dir, its jars, lib/ jars, dependency jars. */
    static List<URL> classPath(Path codeDir, Path depsDir) throws LoadException {
        List<URL> urls = new ArrayList<>();
        try {
            Path classes = codeDir.resolve("classes");
            if (Files.isDirectory(classes)) {
                urls.add(classes.toUri().toURL());
            }
            if (Files.isDirectory(codeDir)) {
                urls.add(codeDir.toUri().toURL());
            }
            addJars(urls, codeDir);
            addJars(urls, codeDir.resolve("lib"));
            addJars(urls, depsDir);
        } catch (IOException e) {
            throw new LoadException("CodeDirError", "cannot read " + codeDir + ": " + e.getMessage(), e);
        }
        return urls;
    }

    /** Lambda's layers: the jars of {@code java/lib} under WISP_LAYERS_DIR (default /opt), last. */
    private static void addLayerJars(List<URL> urls) throws LoadException {
        String layers = System.getenv().getOrDefault("WISP_LAYERS_DIR", "");
        Path lib = Path.of(layers.isBlank() ? "/opt" : layers, "java", "lib");
        try {
            addJars(urls, lib);
        } catch (IOException e) {
            throw new LoadException("CodeDirError", "cannot read " + lib + ": " + e.getMessage(), e);
        }
    }

    /**
     * A code dir of Java sources without classes or jars (inline and {@code files} code) is
     * compiled first; its classes go to the front of the class path.
     */
    private static void compileSourcesOnly(Config config, List<URL> classPath) throws LoadException {
        Path codeDir = config.codeDir();
        try {
            if (Files.isDirectory(codeDir.resolve("classes")) || hasJars(codeDir) || hasJars(codeDir.resolve("lib"))) {
                return;
            }
            List<Path> sources = SourceCompiler.sources(codeDir);
            if (sources.isEmpty()) {
                return;
            }
            StringBuilder compileClassPath = new StringBuilder(System.getProperty("java.class.path"));
            for (URL url : classPath) {
                compileClassPath.append(java.io.File.pathSeparatorChar).append(Path.of(url.toURI()));
            }
            Path work = Path.of(System.getProperty("java.io.tmpdir"));
            Path classes = SourceCompiler.compile(codeDir, sources, compileClassPath.toString(), work);
            classPath.add(0, toUrl(classes));
        } catch (IOException | java.net.URISyntaxException e) {
            throw new LoadException("CodeDirError", "compiling " + codeDir + " failed: " + e, e);
        }
    }

    private static boolean hasJars(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (Stream<Path> entries = Files.list(dir)) {
            return entries.anyMatch(p -> p.getFileName().toString().endsWith(".jar"));
        }
    }

    private static void addJars(List<URL> urls, Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return;
        }
        try (Stream<Path> entries = Files.list(dir)) {
            for (Path jar : entries
                    .filter(p -> p.getFileName().toString().endsWith(".jar") && Files.isRegularFile(p))
                    .sorted(Comparator.comparing(Path::toString))
                    .toList()) {
                urls.add(toUrl(jar));
            }
        }
    }

    private static URL toUrl(Path path) throws MalformedURLException {
        return path.toUri().toURL();
    }

    private static Class<?> loadClass(String name, ClassLoader loader, Path codeDir, int entries)
            throws LoadException {
        try {
            return Class.forName(name, true, loader);
        } catch (ClassNotFoundException e) {
            String where = Files.isDirectory(codeDir)
                    ? codeDir + " (" + entries + " class path entries)"
                    : codeDir + ", which does not exist";
            String hint = Files.exists(codeDir.resolve(name.replace('.', '/') + ".java"))
                    ? "; the code directory holds its source only: build the function (mvn package)"
                    : "";
            throw new LoadException("HandlerNotFound",
                    "no class " + name + " in " + where + hint, e);
        } catch (ExceptionInInitializerError e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new LoadException(cause.getClass().getSimpleName(),
                    "static initialisation of " + name + " failed: " + cause, cause);
        } catch (ClassFormatError | VerifyError e) {
            // Java's counterpart of a syntax error: a class file that is not valid bytecode
            // (or is for a newer JVM: UnsupportedClassVersionError is a ClassFormatError).
            throw new LoadException("SyntaxError",
                    classFile(name, loader) + " cannot be loaded: " + e.getMessage(), e);
        } catch (LinkageError e) {
            throw new LoadException(e.getClass().getSimpleName(),
                    "loading " + name + " failed: " + e.getMessage(), e);
        }
    }

    /** Which class file (and jar) class {@code name} was read from. */
    private static String classFile(String name, ClassLoader loader) {
        String resource = name.replace('.', '/') + ".class";
        URL url = loader.getResource(resource);
        if (url != null && "jar".equals(url.getProtocol())) {
            String path = url.getPath();
            int bang = path.indexOf("!/");
            String jar = bang < 0 ? path : path.substring(0, bang);
            return resource + " in " + jar.substring(jar.lastIndexOf('/') + 1);
        }
        return resource;
    }

    /**
     * The named method, or handleRequest, in one of Lambda's shapes: {@code (input[, Context])},
     * {@code ()} or {@code (InputStream, OutputStream[, Context])}, where Context is wisp's or
     * AWS's (aws-lambda-java-core's, from the function's own jar). More parameters win.
     */
    private static Method findMethod(Class<?> cls, String name, String spec) throws LoadException {
        String wanted = name == null ? DEFAULT_METHOD : name;
        Method best = null;
        for (Method candidate : candidates(cls)) {
            if (!candidate.getName().equals(wanted) || candidate.isBridge() || candidate.isSynthetic()) {
                continue;
            }
            if (signature(candidate) != null && (best == null || rank(candidate) > rank(best))) {
                best = candidate;
            }
        }
        if (best == null) {
            throw new LoadException("HandlerNotFound", "class " + cls.getName() + " has no method "
                    + wanted + "(input[, Context]) or " + wanted + "(InputStream, OutputStream[, Context])"
                    + " (handler " + spec + ")", null);
        }
        try {
            best.setAccessible(true);
        } catch (RuntimeException e) {
            throw new LoadException("IllegalAccessException",
                    "cannot call " + best + ": " + e.getMessage(), e);
        }
        return best;
    }

    /** How {@code method} is called, or null when it has no handler shape. */
    static LoadedHandler.Signature signature(Method method) {
        Class<?>[] params = method.getParameterTypes();
        boolean streams = params.length >= 2
                && params[0] == InputStream.class && params[1] == OutputStream.class;
        int inputs = streams ? 2 : Math.min(params.length, 1);
        if (params.length == inputs) {
            return new LoadedHandler.Signature(streams, LoadedHandler.ContextKind.NONE);
        }
        if (params.length == inputs + 1) {
            Class<?> context = params[inputs];
            if (AwsBridge.isAwsContext(context)) {
                return new LoadedHandler.Signature(streams, LoadedHandler.ContextKind.AWS);
            }
            if (context.isAssignableFrom(Context.class)) {
                return new LoadedHandler.Signature(streams, LoadedHandler.ContextKind.WISP);
            }
        }
        return null;
    }

    private static AwsBridge awsBridge(ClassLoader loader) throws LoadException {
        try {
            return AwsBridge.forFunction(loader);
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new LoadException(e.getClass().getSimpleName(),
                    "cannot adapt AWS's Context (aws-lambda-java-core) for the handler: " + e, e);
        }
    }

    private static List<Method> candidates(Class<?> cls) {
        List<Method> methods = new ArrayList<>(List.of(cls.getMethods()));
        for (Class<?> c = cls; c != null && c != Object.class; c = c.getSuperclass()) {
            methods.addAll(List.of(c.getDeclaredMethods()));
        }
        return methods;
    }

    /** More parameters first, then a concrete input type over Object, then public. */
    private static int rank(Method m) {
        int rank = m.getParameterCount() * 4;
        if (m.getParameterCount() > 0 && m.getParameterTypes()[0] != Object.class) {
            rank += 2;
        }
        if (Modifier.isPublic(m.getModifiers())) {
            rank += 1;
        }
        return rank;
    }

    private static Object instantiate(Class<?> cls) throws LoadException {
        try {
            Constructor<?> constructor = cls.getDeclaredConstructor();
            constructor.setAccessible(true);
            return constructor.newInstance();
        } catch (NoSuchMethodException e) {
            throw new LoadException("NoSuchMethodException",
                    cls.getName() + " needs a constructor without parameters", e);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            throw new LoadException(cause.getClass().getSimpleName(),
                    "the constructor of " + cls.getName() + " failed: " + cause, cause);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new LoadException(e.getClass().getSimpleName(),
                    "cannot instantiate " + cls.getName() + ": " + e.getMessage(), e);
        } catch (ExceptionInInitializerError e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new LoadException(cause.getClass().getSimpleName(),
                    "initialisation of " + cls.getName() + " failed: " + cause, cause);
        }
    }

    /** The first parameter's type, with type variables bound by the handler's superclasses. */
    static Type inputType(Class<?> cls, Method method) {
        if (method.getParameterCount() == 0) {
            return Object.class;
        }
        Type declared = method.getGenericParameterTypes()[0];
        if (declared instanceof TypeVariable<?> variable) {
            Type bound = bindings(cls).get(variable);
            if (bound != null && !(bound instanceof TypeVariable<?>)) {
                return bound;
            }
            return method.getParameterTypes()[0];
        }
        return declared;
    }

    /** Type-variable bindings along cls's generic superclasses and interfaces. */
    private static Map<TypeVariable<?>, Type> bindings(Class<?> cls) {
        Map<TypeVariable<?>, Type> bound = new HashMap<>();
        collect(cls, bound);
        return bound;
    }

    private static void collect(Type type, Map<TypeVariable<?>, Type> bound) {
        Class<?> raw;
        if (type instanceof ParameterizedType parameterized) {
            raw = (Class<?>) parameterized.getRawType();
            TypeVariable<?>[] variables = raw.getTypeParameters();
            Type[] arguments = parameterized.getActualTypeArguments();
            for (int i = 0; i < variables.length; i++) {
                Type argument = arguments[i];
                while (argument instanceof TypeVariable<?> v && bound.containsKey(v)) {
                    argument = bound.get(v);
                }
                bound.put(variables[i], argument);
            }
        } else if (type instanceof Class<?> c) {
            raw = c;
        } else {
            return;
        }
        if (raw.getGenericSuperclass() != null) {
            collect(raw.getGenericSuperclass(), bound);
        }
        for (Type iface : raw.getGenericInterfaces()) {
            collect(iface, bound);
        }
    }
}
