// The options every in-process MQTT worker of the tests starts from: the test broker's port, a client id, and
// the worker thread count.
#pragma once

#include <slimcodec/server/mqtt_service.hpp>

#include <cstddef>
#include <string>

#include "mqtt_test_support.hpp"

namespace mqtt_test {

inline slimcodec::server::MqttServiceOptions worker_options(const Broker& broker, const std::string& id,
                                                           size_t workers) {
  slimcodec::server::MqttServiceOptions o;
  o.port = broker.port();
  o.client_id = id;
  o.workers = workers;
  return o;
}

}  // namespace mqtt_test
