package example;

import com.amazonaws.services.lambda.runtime.Context;
import com.amazonaws.services.lambda.runtime.RequestHandler;

// Follows sample-apps/java-basic/src/main/java/example/HandlerWeatherData.java: a POJO in, the
// same POJO out with its temperature and pressure changed.
// Handler value: example.HandlerWeatherData
public class HandlerWeatherData implements RequestHandler<WeatherData, WeatherData> {
    @Override
    public WeatherData handleRequest(WeatherData event, Context context) {
        WeatherData weatherData = new WeatherData();
        weatherData.setTemperatureK(event.getTemperatureK() + 1);
        weatherData.setWindKmh(event.getWindKmh());
        weatherData.setHumidityPct(event.getHumidityPct());
        weatherData.setPressureHPa(event.getPressureHPa() * 2);
        return weatherData;
    }
}
