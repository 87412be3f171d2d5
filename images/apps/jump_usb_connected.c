/*
 * jump_usb_connected - a clean jump, except that the USB peripheral is left as the
 * application had it: clocked, configured at its address, D+ pull-up on (FACTS §9
 * row 8; AN3156 notes the converse case).
 */
#include "app.h"

void jump_to_bootloader(void)
{
    clean_jump(SKIP_USB_RESET);
}
