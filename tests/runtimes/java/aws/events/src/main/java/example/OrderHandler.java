package example;

import java.util.List;

// Handler value: example.OrderHandler (its input type, Order, comes from JsonHandler<Order>).
public class OrderHandler extends JsonHandler<OrderHandler.Order> {
    public static class Order {
        private String id;
        private List<String> items;

        public String getId() {
            return id;
        }

        public List<String> getItems() {
            return items;
        }
    }

    @Override
    protected String describe(Order order) {
        return order.getId() + ":" + order.getItems().size();
    }
}
