// fuzz_config.c: the JSON config reader (lib/app/config.c) on arbitrary bytes: every input
// must end in TG_OK or a TG_ERR_CONFIG message, with nothing leaked, and an accepted config
// must serialise and parse back to the same resolved config (the written form is a fixed
// point: every value it holds passes its own rule and is written the same way again).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    tg_config c, d;
    tg_error e = {0};
    if (tg_config_parse(text, "/base", "fuzz.json", &c, &e) == TG_OK) {
        char *json = tg_config_to_json(&c);
        if (json) {
            if (tg_config_parse(json, NULL, "again.json", &d, &e) != TG_OK) abort();
            char *again = tg_config_to_json(&d);
            if (again && strcmp(again, json)) abort();
            free(again);
            tg_config_free(&d);
            free(json);
        }
        tg_config_free(&c);
    } else if (!e.msg[0]) {
        abort();  // every failure has a message
    }
    free(text);
    return 0;
}
