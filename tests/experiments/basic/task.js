window.basicTaskLoaded = true;
