/** Grey levels (0–255, row-major) of a `size × size` image painted into a canvas. */
export function paintGrey(canvas: HTMLCanvasElement, pixels: ArrayLike<number>, size = 28): void {
  canvas.width = size;
  canvas.height = size;
  const context = canvas.getContext('2d');
  if (!context) return;
  const image = context.createImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    const v = pixels[i];
    image.data.set([v, v, v, 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
}

/**
 * A drawing pad: white strokes on black. `read()` shrinks the drawing to `size × size` grey levels (the canvas's
 * own smoothing does the area averaging), as Fashion-MNIST images are light objects on a black background.
 */
export function drawingPad(
  canvas: HTMLCanvasElement,
  size = 28,
): { read(): Uint8Array; clear(): void; isEmpty(): boolean } {
  const context = canvas.getContext('2d');
  if (!context) throw new Error('no 2D canvas context');
  let drawn = false;
  let last: { x: number; y: number } | undefined;
  const clear = (): void => {
    context.fillStyle = '#000';
    context.fillRect(0, 0, canvas.width, canvas.height);
    drawn = false;
  };
  clear();
  const point = (event: PointerEvent): { x: number; y: number } => {
    const box = canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) * canvas.width) / box.width,
      y: ((event.clientY - box.top) * canvas.height) / box.height,
    };
  };
  canvas.addEventListener('pointerdown', (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = point(event);
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!last) return;
    const next = point(event);
    context.strokeStyle = '#fff';
    context.lineWidth = canvas.width / 11;
    context.lineCap = 'round';
    context.lineJoin = 'round';
    context.beginPath();
    context.moveTo(last.x, last.y);
    context.lineTo(next.x, next.y);
    context.stroke();
    last = next;
    drawn = true;
  });
  const stop = (): void => {
    last = undefined;
  };
  canvas.addEventListener('pointerup', stop);
  canvas.addEventListener('pointercancel', stop);
  return {
    clear,
    isEmpty: () => !drawn,
    read(): Uint8Array {
      const small = document.createElement('canvas');
      small.width = size;
      small.height = size;
      const smallContext = small.getContext('2d');
      if (!smallContext) throw new Error('no 2D canvas context');
      smallContext.imageSmoothingQuality = 'high';
      smallContext.drawImage(canvas, 0, 0, size, size);
      const rgba = smallContext.getImageData(0, 0, size, size).data;
      const grey = new Uint8Array(size * size);
      for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i];
      return grey;
    },
  };
}
