// mk_ycck_jpeg.c: writes a YCCK JPEG (Adobe marker, transform 2) from raw CMYK bytes.
// PIL cannot write YCCK, so scripts/gen_data_ref.py compiles this helper to make the
// test fixture. Usage: mk_ycck_jpeg in.cmyk width height out.jpg
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

int main(int argc, char **argv) {
    if (argc != 5) return 2;
    int w = atoi(argv[2]), h = atoi(argv[3]);
    FILE *in = fopen(argv[1], "rb");
    if (!in) return 1;
    unsigned char *buf = malloc((size_t)w * h * 4);
    if (!buf || fread(buf, 1, (size_t)w * h * 4, in) != (size_t)w * h * 4) return 1;
    fclose(in);
    FILE *out = fopen(argv[4], "wb");
    if (!out) return 1;
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    jpeg_stdio_dest(&c, out);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = 4;
    c.in_color_space = JCS_CMYK;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, JCS_YCCK);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = buf + (size_t)c.next_scanline * w * 4;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(out);
    free(buf);
    return 0;
}
