package example;

// As sample-apps/java-basic/src/main/java/example/WeatherData.java: a bean with getters and setters.
public class WeatherData {
    private Integer temperatureK;
    private Integer windKmh;
    private Double humidityPct;
    private Double pressureHPa;

    public Integer getTemperatureK() {
        return temperatureK;
    }

    public void setTemperatureK(Integer temperatureK) {
        this.temperatureK = temperatureK;
    }

    public Integer getWindKmh() {
        return windKmh;
    }

    public void setWindKmh(Integer windKmh) {
        this.windKmh = windKmh;
    }

    public Double getHumidityPct() {
        return humidityPct;
    }

    public void setHumidityPct(Double humidityPct) {
        this.humidityPct = humidityPct;
    }

    public Double getPressureHPa() {
        return pressureHPa;
    }

    public void setPressureHPa(Double pressureHPa) {
        this.pressureHPa = pressureHPa;
    }
}
